# The web client's tests drive Debian's Chromium headless through chromedriver (Selenium).
DEB_PACKAGES="chromium chromium-driver"
