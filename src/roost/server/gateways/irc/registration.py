"""Registration of an IRC session: CAP negotiation (302), SASL PLAIN, PASS, REGISTER,
then the welcome burst (001-005, MOTD) and the rooms joined for the client."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import Login, LoginResult
from roost.protocol.names import check_user, dm_parties
from roost.server.gateways.irc.lines import line
from roost.server.gateways.irc.render import CAP_BITS, SERVICE

if TYPE_CHECKING:
    from roost.server.gateways.irc.session import IrcSession

# Capabilities offered (CAP LS 302); values where the spec has them.
CAPS: dict[str, str] = {
    "sasl": "PLAIN",
    "server-time": "",
    "message-tags": "",
    "echo-message": "",
    "batch": "",
    "labeled-response": "",
    "draft/chathistory": "",
    "account-tag": "",
    "away-notify": "",
    "cap-notify": "",
    "draft/message-redaction": "",
    "draft/channel-rename": "",
}
MAX_TARGETS = 10  # targets of one JOIN/PART/PRIVMSG, as ISUPPORT TARGMAX says


@dataclass(slots=True)
class Sasl:
    """A SASL exchange in progress."""

    mechanism: str = ""
    buffer: str = ""


def cap(s: IrcSession, params: list[str], label: str) -> None:
    if not params:
        s.numeric("461", "CAP", "Not enough parameters")
        return
    sub = params[0].upper()
    if sub == "LS":
        if not s.registered:
            s.negotiating = True
        v302 = len(params) > 1 and params[1].isdigit() and int(params[1]) >= 302
        if v302:
            s.caps.add("cap-notify")  # implied by 302
        caps = " ".join(k if not (v and v302) else f"{k}={v}" for k, v in CAPS.items())
        s.out.append(line("CAP", (s.nick, "LS", caps), s.cfg.server))
    elif sub == "LIST":
        s.out.append(line("CAP", (s.nick, "LIST", " ".join(sorted(s.caps))), s.cfg.server))
    elif sub == "REQ":
        if not s.registered:
            s.negotiating = True
        wanted = params[1].split() if len(params) > 1 else []
        names = [w.removeprefix("-") for w in wanted]
        if not wanted or any(n not in CAPS for n in names):
            s.out.append(line("CAP", (s.nick, "NAK", " ".join(wanted)), s.cfg.server))
            return
        for w in wanted:
            if w.startswith("-"):
                s.caps.discard(w[1:])
            else:
                s.caps.add(w)
        s.mask = sum(bit for cap, bit in CAP_BITS.items() if cap in s.caps)
        s.out.append(line("CAP", (s.nick, "ACK", " ".join(wanted)), s.cfg.server))
    elif sub == "END":
        if not s.registered:
            s.negotiating = False
            try_register(s)
    else:
        s.numeric("410", params[0], "Invalid CAP command")


def pass_(s: IrcSession, params: list[str], label: str) -> None:
    if s.registered:
        s.numeric("462", "You may not reregister")
    elif not params:
        s.numeric("461", "PASS", "Not enough parameters")
    else:
        # Old clients send a password with spaces without the ':' of a trailing parameter.
        s.password = " ".join(params)


def nick(s: IrcSession, params: list[str], label: str) -> None:
    if not params or not params[0]:
        s.numeric("431", "No nickname given")
        return
    try:
        name = check_user(params[0])
    except RoostError:
        s.numeric("432", params[0], "Erroneous nickname: use 1-32 of a-z 0-9 _ . -")
        return
    if s.registered:
        if name != s.account:
            s.numeric("432", params[0], f"Your nick is your Roost account name, {s.account}")
        return
    if name == SERVICE.lower():
        s.numeric("433", params[0], "Nickname is reserved for the service")
        return
    s.nick = name
    try_register(s)


def user(s: IrcSession, params: list[str], label: str) -> None:
    if s.registered:
        s.numeric("462", "You may not reregister")
    elif len(params) < 4:
        s.numeric("461", "USER", "Not enough parameters")
    else:
        s.user_given = True
        try_register(s)


def authenticate(s: IrcSession, params: list[str], label: str) -> None:
    if s.registered or s.account:
        s.numeric("907", "You have already authenticated using SASL")
        return
    if not params:
        s.numeric("461", "AUTHENTICATE", "Not enough parameters")
        return
    arg = params[0]
    if arg == "*":
        s.sasl = None
        s.numeric("906", "SASL authentication aborted")
        return
    if s.sasl is None:
        if arg.upper() != "PLAIN":
            s.numeric("908", "PLAIN", "are available SASL mechanisms")
            s.numeric("904", "SASL authentication failed")
            return
        s.sasl = Sasl("PLAIN")
        s.out.append(line("AUTHENTICATE", ("+",)))
        return
    if arg != "+":
        s.sasl.buffer += arg
    if len(s.sasl.buffer) > 2048:
        s.sasl = None
        s.numeric("905", "SASL message too long")
        return
    if len(arg) == 400:
        return  # more chunks follow
    data, s.sasl = s.sasl.buffer, None
    try:
        fields = base64.b64decode(data, validate=True).decode("utf-8").split("\0")
    except (binascii.Error, UnicodeDecodeError):
        fields = []
    if len(fields) != 3 or not fields[1]:
        s.numeric("904", "SASL authentication failed: malformed PLAIN message")
        return
    authzid, authcid, password = fields
    if authzid and authzid != authcid:
        s.numeric("904", "SASL authentication failed: authorization identity must be empty")
        return
    s.logging_in = True

    def done(result: Any, error: RoostError | None) -> None:
        s.logging_in = False
        if error is not None:
            s.numeric("904", f"SASL authentication failed: {error.message}")
            if error.code in (ErrorCode.BLOCKED, ErrorCode.BANNED):
                s.close(str(error.code), error.message)
        else:
            logged_in(s, result)
            source = f"{s.me}!{s.me}@{s.cfg.server}"
            s.numeric("900", source, s.account, f"You are now logged in as {s.account}")
            s.numeric("903", "SASL authentication successful")
        try_register(s)

    s.request(Login, done, user=authcid, password=password)


def register(s: IrcSession, params: list[str], label: str) -> None:
    """draft/account-registration's REGISTER <account> <email> <password>."""
    if s.account:
        s.fail("REGISTER", "ALREADY_AUTHENTICATED", "*", "You are already logged in")
        return
    if len(params) < 3:
        s.numeric("461", "REGISTER", "Not enough parameters")
        return
    name = s.nick if params[0] == "*" else params[0]
    if s.cfg.registration == "closed":
        s.fail("REGISTER", "DISALLOWED", name, "Registration is closed on this server")
        return
    s.logging_in = True

    def done(result: Any, error: RoostError | None) -> None:
        s.logging_in = False
        if error is not None:
            code = "ACCOUNT_EXISTS" if error.code == ErrorCode.NAME_TAKEN else "BAD_ACCOUNT_NAME"
            s.fail("REGISTER", code, name, error.message, label)
        else:
            logged_in(s, result)
            s.out.append(line("REGISTER", ("SUCCESS", s.account, "Account created"), s.cfg.server))
        try_register(s)

    s.request(Login, done, user=name, password=params[2], register=True)


def logged_in(s: IrcSession, result: LoginResult) -> None:
    s.account = result.user
    s.login = result
    s.pending = result.status == "pending"


def try_register(s: IrcSession) -> None:
    if (
        s.registered
        or s.closing
        or s.nick == "*"
        or not s.user_given
        or s.negotiating
        or s.logging_in
        or s.sasl is not None
    ):
        return
    if s.account:
        if s.pending:
            s.notice("your account waits for a moderator to admit it; stay connected")
        else:
            welcome(s)
        return
    if not s.password:
        s.numeric("464", "Password required: log in with SASL PLAIN or PASS (your Roost password)")
        s.close("auth_failed", "no password given")
        return
    s.logging_in = True
    password, s.password = s.password, ""

    def done(result: Any, error: RoostError | None) -> None:
        s.logging_in = False
        if error is not None:
            login_refused(s, error)
        else:
            logged_in(s, result)
            try_register(s)

    register = s.cfg.registration != "closed"
    s.request(Login, done, user=s.nick, password=password, register=register)


def login_refused(s: IrcSession, error: RoostError) -> None:
    if error.code == ErrorCode.NAME_TAKEN:
        s.numeric("433", s.nick, "Nickname is already in use")
    elif error.code in (ErrorCode.BLOCKED, ErrorCode.BANNED):
        s.numeric("465", error.message)
    elif error.code == ErrorCode.INVALID_NAME:
        s.numeric("432", s.nick, error.message)
    else:
        s.numeric("464", error.message)
    s.close(str(error.code), error.message)


def welcome(s: IrcSession) -> None:
    s.registered = True
    cfg, me = s.cfg, s.me
    s.numeric("001", f"Welcome to {cfg.network}, {me}!{me}@{cfg.server}")
    s.numeric("002", f"Your host is {cfg.server}, running {cfg.version}")
    s.numeric("003", f"This server was created {cfg.created or 'some time ago'}")
    s.numeric("004", cfg.server, cfg.version, "i", "nt")
    support = [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "CHANMODES=b,,,int",
        "PREFIX=(o)@",
        f"NETWORK={cfg.network}",
        "NICKLEN=32",
        "CHANNELLEN=33",
        "UTF8ONLY",
        f"TARGMAX=JOIN:{MAX_TARGETS},PART:{MAX_TARGETS},PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS}",
        f"CHATHISTORY={cfg.history_page}",
        "MSGREFTYPES=msgid",
    ]
    s.numeric("005", *support, "are supported by this server")
    motd = cfg.motd or f"Welcome to {cfg.network}: Roost's rooms are channels, DMs are queries."
    s.numeric("375", f"- {cfg.server} Message of the day -")
    for text in motd.splitlines() or [" "]:
        s.numeric("372", f"- {text}")
    s.numeric("376", "End of /MOTD command.")
    s.numeric("221", "+i")
    login = s.login
    if login is None:
        return
    for room in sorted(login.rooms):
        s._show_join(room)
    if not has_history(s):
        for key, last in sorted(login.conversations.items()):
            if dm_parties(key) is not None:
                s._playback(key, last)


def has_history(s: IrcSession) -> bool:
    return "draft/chathistory" in s.caps
