"""The page a person answers preference questions on: its JSON API and its guards over HTTP, the
page itself in a real headless chromium (clicks and key presses; hostile outputs stay text), and
a session killed with SIGKILL that resumes from its feedback log without asking again."""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_pipe import CHROMIUM, INSTALL, Browser
from prefer_session import QUESTIONS

from promptc.exceptions import ConfigurationError
from promptc.judges import FeedbackLog, Person, Question, Verdict

SESSION = Path(__file__).with_name("prefer_session.py")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=INSTALL)
WAIT = 30.0


def call(
    url: str,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPResponse, Any]:
    """``method path`` against the page's server (``path`` taken literally, token and all)."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=WAIT)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if data is not None else {}
    connection.request(method, path, body=data, headers={**sent, **(headers or {})})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    is_json = response.headers.get_content_type() == "application/json"
    return response.status, response, json.loads(raw) if is_json else raw.decode()


def api(url: str, method: str, route: str, body: object = None) -> tuple[int, Any]:
    status, _, data = call(url, method, urlsplit(url).path + route, body)
    return status, data


@pytest.fixture
def person() -> Iterator[Person]:
    with Person() as started:
        yield started


@pytest.fixture
def asker() -> Iterator[ThreadPoolExecutor]:
    """A thread to ask in. Not joined: after a failed test a question may still wait for its
    answer; closing the person (torn down later) ends it."""
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def ask(pool: ThreadPoolExecutor, person: Person, question: Question) -> Future[Verdict]:
    return pool.submit(person, question)


def q(i: int) -> Question:
    return Question({"text": f"input {i}"}, {"out": f"first {i}"}, {"out": f"second {i}"})


def test_every_request_without_the_token_or_from_elsewhere_is_refused(person: Person) -> None:
    url, token = person.url, urlsplit(person.url).path.strip("/")
    port = urlsplit(url).port
    for path in ["/", "/api/question", f"/{token[:-1]}/", f"/{token}x/api/question", "/x/../"]:
        for method in ("GET", "POST"):
            status, _, data = call(url, method, path, b"{}" if method == "POST" else None)
            assert (status, data["error"]) == (403, "the URL's token is missing or wrong"), path
    status, _, data = call(url, "GET", f"/{token}/", headers={"Host": f"evil.example:{port}"})
    assert status == 403 and "wrong Host header" in data["error"]  # DNS rebinding
    status, _, _ = call(url, "GET", f"/{token}/", headers={"Origin": "http://evil.example"})
    assert status == 403
    status, response, page = call(url, "GET", f"/{token}/", headers={"Host": f"localhost:{port}"})
    assert status == 200 and "Which output is better?" in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert api(url, "GET", "nothing-here") == (404, {"error": "no page 'nothing-here'"})


def test_the_api_publishes_a_question_and_takes_one_answer(
    person: Person, asker: ThreadPoolExecutor
) -> None:
    assert api(person.url, "GET", "api/question") == (
        200, {"state": "waiting", "progress": None}
    )  # fmt: skip
    verdict = ask(asker, person, q(1))
    status, state = api(person.url, "GET", "api/question?after=0")  # held until it is open
    assert status == 200
    assert state == {"state": "question", "id": 1, "progress": None, **_fields(q(1))}
    assert api(person.url, "POST", "api/answer", {"id": 2, "verdict": "A"})[0] == 409
    assert api(person.url, "POST", "api/answer", {"id": 1, "verdict": "Tie"}) == (
        200, {"ok": True}
    )  # fmt: skip
    assert verdict.result(timeout=WAIT) == "tie"
    status, data = api(person.url, "POST", "api/answer", {"id": 1, "verdict": "A"})
    assert status == 409 and "question 1 is not open (none is)" in data["error"]
    person.set_progress(1, 5)
    assert api(person.url, "GET", "api/question")[1] == {
        "state": "waiting", "progress": {"answered": 1, "budget": 5}
    }  # fmt: skip
    person.finish()
    assert api(person.url, "GET", "api/question?after=1")[1]["state"] == "done"


def _fields(question: Question) -> dict[str, Any]:
    return {"inputs": question.inputs, "a": question.a, "b": question.b}


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"{not json", {}, "the body is not JSON"),
        ({"id": 1, "verdict": "maybe"}, {}, "the page answered 'maybe'"),
        ({"id": 1}, {}, 'expected {"id"'),
        ({"id": 1, "verdict": "A", "more": 1}, {}, 'expected {"id"'),
        ([1, "A"], {}, 'expected {"id"'),
        ({"id": "1", "verdict": "A"}, {}, "id must be an integer, got '1'"),
        ({"id": True, "verdict": "A"}, {}, "id must be an integer, got True"),
        (b"[" * 5000, {}, "expected a Content-Length of at most 4096 bytes, got '5000'"),
        ({"id": 1, "verdict": "A"}, {"Content-Type": "text/plain"}, "application/json"),
        (b"[" * 4000, {}, "the body is not JSON"),
    ],
)
def test_a_bad_answer_body_is_a_400_with_a_message(
    person: Person, asker: ThreadPoolExecutor, body: object, headers: dict[str, str], message: str
) -> None:
    verdict = ask(asker, person, q(1))
    assert api(person.url, "GET", "api/question?after=0")[1]["id"] == 1
    path = urlsplit(person.url).path + "api/answer"
    status, _, data = call(person.url, "POST", path, body, headers)
    assert status == 400 and message in data["error"], data
    assert api(person.url, "POST", "api/answer", {"id": 1, "verdict": "skip"})[0] == 200
    assert verdict.result(timeout=WAIT) == "skip"  # the bad body answered nothing


def test_only_loopback_hosts_are_served() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(ConfigurationError, match="loopback address only"):
            Person(host=host)
    with Person(host="localhost") as person:
        assert person.url.startswith("http://127.0.0.1:")
        assert api(person.url, "GET", "api/question")[0] == 200


def test_closing_releases_a_waiting_question_and_refuses_new_ones(
    asker: ThreadPoolExecutor,
) -> None:
    person = Person()
    with pytest.raises(ConfigurationError, match="not started"):
        _ = person.url
    person.start()
    waiting = ask(asker, person, q(1))
    assert api(person.url, "GET", "api/question?after=0")[1]["id"] == 1
    person.close()
    with pytest.raises(ConfigurationError, match="closed while question 1 waited"):
        waiting.result(timeout=WAIT)
    with pytest.raises(ConfigurationError, match="closed"):
        person(q(2))
    with pytest.raises(ConfigurationError, match="closed"):
        person.start()


class Announced(logging.Handler):
    """Catches the URL an unstarted person logs when it starts on the first question."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.url: Future[str] = Future()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.url.done():
            self.url.set_result(record.getMessage().rpartition(" ")[2])


def test_an_unstarted_person_starts_when_asked_and_says_where(asker: ThreadPoolExecutor) -> None:
    person, announced = Person(), Announced()
    logger = logging.getLogger("promptc.judges._person")
    logger.addHandler(announced)
    try:
        verdict = ask(asker, person, q(1))
        url = announced.url.result(timeout=WAIT)
        assert url == person.url and "/" + person._token + "/" in url
        assert api(url, "GET", "api/question?after=0")[1]["id"] == 1
        assert api(url, "POST", "api/answer", {"id": 1, "verdict": "b"})[0] == 200
        assert verdict.result(timeout=WAIT) == "B"
    finally:
        logger.removeHandler(announced)
        person.close()


# --- the page in a real browser ------------------------------------------------------------------

WAITING = "document.getElementById('status').textContent.startsWith('Waiting for the next')"
SHOWN = "!document.getElementById('question').hidden && document.getElementById('status')"


def shown(n: int) -> str:
    return f"{SHOWN}.textContent === 'Question {n}'"


@needs_chromium
def test_the_page_shows_questions_and_sends_clicks_and_keys(
    person: Person, asker: ThreadPoolExecutor, tmp_path: Path
) -> None:
    with Browser(tmp_path / "profile") as browser:
        browser.goto(person.url)
        browser.wait_for("document.getElementById('status').textContent.startsWith('Waiting')")
        verdicts = []
        for n, action in enumerate([("click", "B"), ("press", "a"), ("press", "t")], start=1):
            person.set_progress(n - 1, 4)
            pending = ask(asker, person, q(n))
            browser.wait_for(shown(n))
            assert browser.text("#inputs") == f"textinput {n}"
            assert (browser.text("#a"), browser.text("#b")) == (f"outfirst {n}", f"outsecond {n}")
            assert browser.text("#progress") == f"{n - 1} of 4 answered"
            if action[0] == "click":
                browser.click(f"button[data-verdict={action[1]}]")
            else:
                browser.press(action[1])
            verdicts.append(pending.result(timeout=WAIT))
            browser.wait_for(WAITING)
        pending = ask(asker, person, q(4))
        browser.wait_for(shown(4))
        browser.click("button[data-verdict=skip]")
        verdicts.append(pending.result(timeout=WAIT))
        assert verdicts == ["B", "A", "tie", "skip"]
        browser.press("a")  # no question open: nothing is sent
        person.finish()
        browser.wait_for("document.getElementById('status').className === 'done'")
        assert browser.text("#status").startswith("Done")
        assert browser.console() == []


HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


@needs_chromium
def test_a_hostile_output_is_shown_as_text_and_runs_nothing(
    person: Person, asker: ThreadPoolExecutor, tmp_path: Path
) -> None:
    question = Question({"<b>field</b>": HOSTILE}, {"out": HOSTILE}, {"out": {"nested": HOSTILE}})
    with Browser(tmp_path / "profile") as browser:
        browser.goto(person.url)
        pending = ask(asker, person, question)
        browser.wait_for(shown(1))
        assert browser.text("#inputs") == "<b>field</b>" + HOSTILE
        assert browser.text("#a") == "out" + HOSTILE
        assert browser.text("#b") == "out" + json.dumps({"nested": HOSTILE}, indent=2)
        assert browser.evaluate("document.querySelectorAll('img, b, main script').length") == 0
        assert browser.evaluate("document.title") == "promptc: which output is better?"
        browser.press("b")
        assert pending.result(timeout=WAIT) == "B"
        assert browser.console() == []


@needs_chromium
def test_the_page_without_its_token_is_forbidden_in_the_browser(
    person: Person, tmp_path: Path
) -> None:
    where = urlsplit(person.url)
    with Browser(tmp_path / "profile") as browser:
        browser.goto(f"http://{where.netloc}/")
        assert "the URL's token is missing or wrong" in browser.text("body")
        assert browser.evaluate("document.querySelectorAll('button').length") == 0


# --- a session killed with SIGKILL resumes from its log ------------------------------------------


class Session:
    """tests/prefer_session.py in a child process, read line by line."""

    def __init__(self, log: Path) -> None:
        command = [sys.executable, str(SESSION), str(log)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.url = self.line().removeprefix("url ")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()  # a no-op once it has exited
        self.process.wait(timeout=WAIT)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        assert text, f"the session ended early (exit code {self.process.wait(timeout=WAIT)})"
        return text.rstrip("\n")

    def answer(self, number: int, verdict: Verdict, shown_as: int) -> None:
        """Answer QUESTIONS[number - 1] on the page, where it is question ``shown_as``."""
        status, state = api(self.url, "GET", f"api/question?after={shown_as - 1}")
        assert (status, state["id"]) == (200, shown_as), state
        assert _fields(QUESTIONS[number - 1]) == {k: state[k] for k in ("inputs", "a", "b")}
        assert api(self.url, "POST", "api/answer", {"id": shown_as, "verdict": verdict})[0] == 200
        assert self.line() == f"answer {number} {verdict} page"  # recorded: safe to kill


def test_a_killed_session_resumes_from_its_log_without_asking_again(tmp_path: Path) -> None:
    log = tmp_path / "answers.jsonl"
    with Session(log) as first:
        first.answer(1, "A", shown_as=1)
        first.answer(2, "B", shown_as=2)
        first.process.kill()  # SIGKILL, while question 3 waits on the page
        assert first.process.wait(timeout=WAIT) == -9
    with Session(log) as second:
        assert second.url != first.url
        assert [second.line(), second.line()] == ["answer 1 A log", "answer 2 B log"]
        second.answer(3, "tie", shown_as=1)  # the first question this page shows is number 3
        second.answer(4, "skip", shown_as=2)
        second.answer(5, "B", shown_as=3)
        assert second.line() == "done"
        assert second.process.wait(timeout=WAIT) == 0
    keys = [json.loads(line)["key"] for line in log.read_text("utf-8").splitlines()]
    assert keys == [question.key() for question in QUESTIONS]
    assert [v for _, v in FeedbackLog(log).items()] == ["A", "B", "tie", "skip", "B"]


def test_a_compile_asks_the_person_at_the_page_and_keeps_what_they_prefer(
    tmp_path: Path,
) -> None:
    """The whole path: compile(feedback=Person()) publishes each question on the page; a
    person (a thread speaking the page's API) answers; the answers land in the log."""
    from test_prefer import GOOD, RoundRobin, inputs, word_lm

    import promptc
    from promptc import Predict
    from promptc.judges import FeedbackLog
    from promptc.testing import WordTask

    seen: list[dict[str, Any]] = []

    def answer_all(url: str) -> None:
        after = 0
        while True:
            state = api(url, "GET", f"api/question?after={after}")[1]
            if state["state"] == "done":
                return
            if state["state"] != "question":
                continue
            seen.append(state)
            after = state["id"]
            right = WordTask.label(state["inputs"]["word"])
            a, b = state["a"]["label"] == right, state["b"]["label"] == right
            verdict = "tie" if a == b else "A" if a else "B"
            assert api(url, "POST", "api/answer", {"id": after, "verdict": verdict})[0] == 200

    log = tmp_path / "prefs.jsonl"
    with Person() as page, ThreadPoolExecutor(max_workers=1) as pool:
        answering = pool.submit(answer_all, page.url)
        result = promptc.compile(
            Predict(WordTask.SIGNATURE),
            inputs(16),
            feedback=page,
            feedback_budget=5,
            feedback_log=log,
            optimizer=RoundRobin(),
            lm=word_lm(),
        )
        page.finish()
        answering.result(timeout=WAIT)
    prefs = result.artifact.provenance.preferences
    assert prefs is not None and prefs.judge == "person"
    assert prefs.questions == len(seen) == len(FeedbackLog(log)) <= 5
    assert [s["progress"]["answered"] for s in seen] == list(range(len(seen)))
    assert result.artifact.predictors[0].instruction == GOOD
