"""``hotfix.redaction``: what a log line or an error may show of a text."""
from __future__ import annotations

from hotfix.redaction import MAX_SNIPPET, server_snippet, without_link_tokens


def test_link_tokens_and_query_tokens_are_cut_from_a_log_line() -> None:
    """Log lines keep the route but lose every token: in /act/…, /approval/…, /unsubscribe/… and ?token=."""
    line = ('127.0.0.1 - "GET /act/eyJ0.abc-_DEF?do=take_role HTTP/1.1" 200; POST /unsubscribe/x.y; GET /?token=s3cret&x=1'
            "; GET /approval/ap.pr0ve?do=edit; GET /subscribe/confirm/c0nf.irm")
    cleaned = without_link_tokens(line)
    assert "eyJ0" not in cleaned and "x.y" not in cleaned and "s3cret" not in cleaned
    assert "pr0ve" not in cleaned and "c0nf" not in cleaned
    assert "/act/…?do=take_role" in cleaned and "?token=…&x=1" in cleaned


def test_an_invitation_token_is_cut_from_a_log_line() -> None:
    """Attack: `GET /subscribe?invite=<token>` was written whole in the access log (the invitation opens the form)."""
    cleaned = without_link_tokens('"GET /subscribe?invite=eyJpbnZ.s1gn HTTP/1.1" 200; GET /subscribe?x=1&invite=a.b')
    assert "eyJpbnZ" not in cleaned and "s1gn" not in cleaned and "a.b" not in cleaned
    assert "/subscribe?invite=… HTTP/1.1" in cleaned and "&invite=…" in cleaned


def test_a_server_snippet_has_no_url_no_secret_one_line_and_a_bound() -> None:
    """A server's text loses URLs and the given secrets, is joined on one line and cut to MAX_SNIPPET."""
    out = server_snippet("see https://h/p?sig=abc\nand pw123 " + "x" * 500, ["pw123"])
    assert "https" not in out and "sig=abc" not in out and "pw123" not in out and "[secret]" in out
    assert "\n" not in out and len(out) == MAX_SNIPPET and out.endswith("…")
    assert server_snippet("a\n b", limit=10) == "a b"
