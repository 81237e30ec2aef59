"""A preference session that a test kills and reruns (tests/test_person_page.py).

Usage: ``python tests/prefer_session.py LOG``. Prints ``url URL`` once the page is served, then
asks :data:`QUESTIONS` in order through ``FeedbackLog(LOG).ask(question, person)`` and prints
``answer N VERDICT log|page`` once each verdict is recorded (``log``: answered from the log
without asking), then ``done``.
"""

from __future__ import annotations

import sys

from promptc.judges import FeedbackLog, Person, Question

QUESTIONS = [
    Question({"text": f"question {i}"}, {"answer": f"A{i}"}, {"answer": f"B{i}"})
    for i in range(1, 6)
]


def main(path: str) -> None:
    log = FeedbackLog(path)
    with Person() as person:
        print("url", person.url, flush=True)
        for number, question in enumerate(QUESTIONS, start=1):
            source = "page" if log.lookup(question) is None else "log"
            verdict = log.ask(question, person)
            person.set_progress(number, len(QUESTIONS))
            print("answer", number, verdict, source, flush=True)
        person.finish()
        print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
