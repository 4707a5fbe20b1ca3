"""Configuration: TOML + environment, durations, and errors that name the key at fault."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hotfix.config import ConfigError, load_settings
from hotfix.durations import format_duration, parse_duration
from hotfix.enums import Severity
from hotfix.settings import Settings

VALID = """
[teams.engineering]
url = "https://hooks.example/secret-webhook-path"
[audiences.oncall]
teams = ["engineering"]
emails = ["oncall@example.com"]
[severity.P0]
resolve_within = "1h"
announce = ["oncall"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,expected", [
    ('[audiences.a]\nteams = ["nope"]', "audiences.a.teams: unknown Teams channel 'nope'"),
    ('[severity.P0]\nannounce = []', "severity.P0.resolve_within: Field required"),
    ('[teams.x]\nformat = "card"', "teams.x.format: Input should be 'workflow' or 'connector'"),
    ('[smtp]\nhots = "x"', "smtp.hots: unknown key"),
    ('locale = "de"', "locale: Input should be 'fr' or 'en'"),
    ('timezone = "Mars/Olympus"', "timezone: unknown time zone 'Mars/Olympus'"),
    ('[severity.P7]\nresolve_within = "1h"', "severity.P7"),
    ('[severity.P0]\nresolve_within = "soon"', "severity.P0.resolve_within: invalid duration 'soon'"),
    ('[severity.P0]\nresolve_within = "1h"\nannounce = ["ghosts"]', "severity.P0.announce: unknown audience 'ghosts'"),
    ('[severity.P0]\nresolve_within = "1h"\nwarn_before = "2h"', "severity.P0.warn_before: must be shorter"),
    ('[smtp]\nsecurity = "ssl"', "smtp.security"),
    ('[smtp]\nport = 0', "smtp.port"),
    ('[audiences.c]\nemails_file = "missing.txt"', "audiences.c.emails_file: file not found"),
    ('locale = ', "cannot read"),
    ('[people."<at>x"]\nemail = "x@example.com"', "people.'<at>x'"),
    ('[people."Chloé"]\nslack = "x"', "people.Chloé.slack: unknown key"),
    ('[people."Chloé"]\nlocale = "de"', "people.Chloé.locale"),
    ('[http]\npublic_url = "herald.example.com"', "http.public_url: expected an absolute http(s) URL"),
    ('[http]\npublic_url = "https://h.example.com/?x=1"', "http.public_url"),
    ('[http]\nsigning_key = "short"', "http.signing_key: at least 16 characters"),
    ('[audiences.cto]\nkind = "bosses"', "audiences.cto.kind"),
    ('[severity.P0]\nresolve_within = "1h"\nprompts = ["update"]', "severity.P0.prompts: update: not a role prompt"),
    # repro 8: what check-config let through and the processes then crashed on
    ('[http]\nlisten = "nonsense"', "http.listen: expected host:port"),
    ('[http]\nlisten = "127.0.0.1:99999"', "http.listen: expected host:port with a port from 1 to 65535"),
    ('[redis]\nurl = "not a url"', "redis.url: expected a URL starting with redis://"),
    ('[redis]\nurl = "redis://h:port/0"', "redis.url: 'h:port': the port must be a number"),
    ('[redis]\nurl = "redis://h/zero"', "redis.url: the database must be a number"),
    ('[teams.x]\nurl = "ftp://hooks.example/secret"', "teams.x.url: expected an https:// URL (the webhook's address from Teams), got ftp://"),
    ('[teams.x]\nurl = "http://hooks.example/secret"', "teams.x.url: http:// is only allowed to this machine"),
    ('[audiences.a]\nemails = ["not-an-email"]', "audiences.a.emails: 'not-an-email' is not an email address"),
    ('[people.Alice]\nemail = "alice at corp"', "people.Alice.email: 'alice at corp' is not an email address"),
    ('[smtp]\nsender = "Hotfix Desk"', "smtp.sender: 'Hotfix Desk' has no email address"),
    ('[postmortem]\ntime = "2pm"', "postmortem.time: '2pm': expected a time of day HH:MM"),
    ('[postmortem]\ntime = "25:00"', "postmortem.time"),
    ('[postmortem]\nweekdays = []', "postmortem.weekdays: at least one day"),
    ('[postmortem]\nweekdays = ["monday"]', "postmortem.weekdays.0"),
    ('[postmortem]\nafter = "later"', "postmortem.after: invalid duration 'later'"),
    # attack: audience names went unchecked into subjects, Redis keys and signed links
    ('[audiences."news\\r\\nBcc: evil@x.example"]\nemails = ["a@example.com"]', "audiences.'news\\r\\nBcc:"),
    ('[audiences."person:Alice"]\nemails = ["a@example.com"]', "audiences.'person:Alice': a name of 1-100"),
    (f'[audiences.{"a" * 101}]\nemails = ["a@example.com"]', "without <, >, quotes, ':' or control characters"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    """Each kind of bad configuration is refused with the key path and what is expected."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.source == str(path)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOTFIX_SMTP__PASSWORD and HOTFIX_REDIS__URL override the TOML values."""
    path = write(tmp_path, VALID + '\n[smtp]\nhost = "mail"\npassword = "from-file"\n[redis]\nurl = "redis://a/1"\n')
    monkeypatch.setenv("HOTFIX_SMTP__PASSWORD", "from-env")
    monkeypatch.setenv("HOTFIX_REDIS__URL", "redis://b/2")
    settings = load_settings(path)
    assert settings.smtp.password is not None and settings.smtp.password.get_secret_value() == "from-env"
    assert settings.redis.url == "redis://b/2"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --config, $HOTFIX_CONFIG names the file."""
    path = write(tmp_path, VALID)
    monkeypatch.setenv("HOTFIX_CONFIG", str(path))
    assert "oncall" in load_settings(None).audiences


def test_secrets_never_in_repr_or_errors(tmp_path: Path) -> None:
    """Webhook URLs and passwords are SecretStr: absent from repr, dumps and validation errors."""
    path = write(tmp_path, VALID + '\n[smtp]\npassword = "hunter2-secret"\n')
    settings = load_settings(path)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "secret-webhook-path" not in text and "hunter2-secret" not in text
    bad = write(tmp_path, VALID + '\n[smtp]\npassword = "hunter2-secret"\nport = "many"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    assert "hunter2-secret" not in str(caught.value)
    assert set(settings.secret_values()) == {"https://hooks.example/secret-webhook-path", "hunter2-secret"}


@pytest.mark.parametrize("url", ["redis://:pw-in-netloc@127.0.0.1:6379/0", "unix:///run/redis.sock?db=0&password=pw-in-query",
                                 "rediss://127.0.0.1:6380/0?ssl_password=pw-in-query"])
def test_a_redis_password_counts_among_the_secrets_wherever_the_url_puts_it(url: str) -> None:
    """The log filters and the leak tests know the Redis password, in the user part or in the query."""
    assert any(secret.startswith("pw-in-") for secret in Settings(redis={"url": url}).secret_values())


def test_emails_file_is_relative_to_the_config(tmp_path: Path) -> None:
    """An emails_file path is read relative to the config file's folder."""
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "c.txt").write_text("a@example.com\n")
    settings = load_settings(write(tmp_path, '[audiences.c]\nemails_file = "lists/c.txt"\n'))
    assert settings.audiences["c"].emails_file == tmp_path / "lists" / "c.txt"


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("15m", 900), ("1h", 3600), ("1d", 86400), ("1h30m", 5400),
                                          (90, 90), ("0.5s", 0.5)])
def test_durations(text: str | int, seconds: float) -> None:
    """Durations accept s, m, h, d and combinations."""
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "15", "1w", "-5m", "m", True, -1])
def test_bad_durations(bad: object) -> None:
    """Anything else is refused with a message showing the expected form."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_duration_round_trip() -> None:
    """A parsed duration prints in its shortest form."""
    assert format_duration(parse_duration("90m")) == "1h30m"


def test_people_links_and_prompts_settings(tmp_path: Path) -> None:
    """[people.NAME] email/teams/locale, [http] public_url/signing_key and prompts are read; the key is a secret."""
    path = write(tmp_path, VALID + """
[http]
public_url = "https://herald.example.com/"
signing_key = "sign-me-please-0123456789"
[people."Chloé"]
email = "chloe@corp.example"
teams = "chloe@corp.example"
locale = "en"
[people.Bob]
email = "bob@corp.example"
[severity.P1]
resolve_within = "4h"
prompts = ["review_request"]
""")
    settings = load_settings(path)
    assert settings.http.public_url == "https://herald.example.com" and settings.http.links_enabled()
    assert settings.mentionable() == {"Chloé": "chloe@corp.example"}
    assert settings.person_locale("Chloé").value == "en" and settings.person_locale("Bob").value == "fr"
    assert [m.value for m in settings.policy(Severity.P0).prompts] == ["assignment", "review_request", "deploy_request"]
    assert [m.value for m in settings.policy(Severity.P1).prompts] == ["review_request"]
    assert settings.audience_kind("oncall").value == "team"
    assert "sign-me-please-0123456789" in settings.secret_values()
    assert "sign-me-please" not in repr(settings) and "sign-me-please" not in settings.model_dump_json()


def test_a_webhook_url_is_never_echoed_in_its_error(tmp_path: Path) -> None:
    """A refused Teams URL is named by its key and scheme only: the URL is a secret."""
    path = write(tmp_path, '[teams.x]\nurl = "http://hooks.example/SECRET-path"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "SECRET" not in str(caught.value) and "teams.x.url" in str(caught.value)


@pytest.mark.parametrize("url", ["https://prod-01.westeurope.logic.azure.com/workflows/x", "http://127.0.0.1:8099/hook",
                                 "http://localhost/hook", "http://[::1]:9/hook"])
def test_https_and_loopback_webhooks_are_accepted(tmp_path: Path, url: str) -> None:
    """https:// anywhere, http:// to this machine (a local relay, the test stand-in)."""
    assert load_settings(write(tmp_path, f'[teams.x]\nurl = "{url}"\n')).teams["x"].url is not None


def test_a_directory_is_not_a_configuration(tmp_path: Path) -> None:
    """Repro 8: ``check-config -c <directory>`` is an error, not "configuration OK"."""
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert caught.value.problems == ["is a directory: expected a TOML file"]


def test_an_environment_override_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value set by HOTFIX_REDIS__URL is blamed on that variable, not on the TOML file."""
    path = write(tmp_path, VALID)
    monkeypatch.setenv("hotfix_redis__url", "nonsense")
    monkeypatch.setenv("HOTFIX_HTTP__LISTEN", "8080")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert sorted(p.split(":")[0] for p in caught.value.problems) == [
        "http.listen (from HOTFIX_HTTP__LISTEN)", "redis.url (from hotfix_redis__url)"]


def test_a_relative_outbox_is_beside_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[outbox] dir = "out"`` is the config file's folder's ``out``, whatever the working directory (like emails_file)."""
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text('[outbox]\ndir = "out"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings(path).outbox.dir == folder / "out"
