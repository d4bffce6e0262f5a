# The IRC gateway's end-to-end test drives irssi in tmux.
DEB_PACKAGES="irssi tmux"
