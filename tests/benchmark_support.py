"""The fake data root, fake LMs and helpers the benchmark tests share (nothing reads
../shared/data)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks import tasks
from benchmarks.tasks import Task
from promptc import LMRequest


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def antonym_rows(split: str, n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"ant-{split}-{i}", "input": f"{split}{i}", "target": f"un{split}{i}"}
        | {"targets": [f"un{split}{i}"]}
        for i in range(n)
    ]


def make_data_root(tmp_path: Path) -> Path:
    """Two groups and a top-level task, shaped like ../shared/data, with a manifest."""
    root = tmp_path / "data"
    ii = root / "instruction_induction"
    write_rows(ii / "fake_antonyms" / "train.jsonl", antonym_rows("train", 40))
    write_rows(ii / "fake_antonyms" / "test.jsonl", antonym_rows("test", 20))
    write_rows(ii / "fake_set" / "train.jsonl", antonym_rows("train", 10))
    write_rows(ii / "fake_set" / "test.jsonl", antonym_rows("test", 10))
    write_rows(ii / "synonyms" / "test.jsonl", antonym_rows("test", 10))  # not in the manifest
    bools = [
        {"id": f"bool-{i}", "input": f"{i % 2 == 0} and True #{i} is", "target": str(i % 2 == 0)}
        for i in range(50)
    ]
    write_rows(root / "bbh" / "fake_bool" / "test.jsonl", bools)
    cot = [{"id": f"bool-cot-{i}", "input": "not True is", "target": "False"} for i in range(3)]
    write_rows(root / "bbh" / "fake_bool" / "fewshot_cot.jsonl", cot)
    (root / "bbh" / "fake_bool" / "cot_prompt.txt").write_text("Q: ...", encoding="utf-8")
    mc = [
        {"id": f"mc-{i}", "input": f"Pick {i}\n(A) x\n(B) y", "target": "(A)", "options": ["(A)"]}
        for i in range(20)
    ]
    write_rows(root / "bbh" / "fake_mc" / "test.jsonl", mc)
    write_rows(
        root / "gsm8k" / "train.jsonl",
        [{"input": f"{i}+1?", "target": str(i + 1)} for i in range(9)],
    )
    write_rows(
        root / "gsm8k" / "test.jsonl",
        [{"input": f"{i}+2?", "target": str(i + 2)} for i in range(5)],
    )
    (root / "notes").mkdir()
    manifest = {
        "instruction_induction": {
            "fake_antonyms": {"metric": "em", "train": 40, "test": 20},
            "fake_set": {"metric": "es", "train": 10, "test": 10},
        },
        "bbh": {"fake_bool": {"type": "free_form", "test": 50}},
        "gsm8k": {"train": 9, "test": 5},
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def load(root: Path, name: str, **sizes: int) -> Task:
    sizes = {"seed": 0, "n_train": 10, "n_val": 5, "n_test": 8} | sizes
    return tasks.load_task(root / name, root=root, **sizes)


def ids(rows: Any) -> list[str]:
    return [r["id"] for r in rows]


def demo_reader(request: LMRequest) -> str:
    """Answers right only when the prompt carries demos (more than system + one user turn)."""
    messages = request.message_list
    word = re.search(r"<input>\n(.*?)\n</input>", messages[-1]["content"], re.DOTALL)
    assert word is not None
    answer = f"un{word.group(1)}" if len(messages) > 2 else word.group(1)
    return f"<target>{answer}</target>"


def both_formats(request: LMRequest) -> str:
    """Answers promptc's XML prompts like _demo_reader, and DSPy's ``[[ ## field ## ]]`` prompts:
    right only with demos, and some text for any other field DSPy asks for (proposals)."""
    messages = request.message_list
    last = messages[-1]["content"]
    if "<input>" in last:
        return demo_reader(request)
    found = re.search(r"\[\[ ## input ## \]\]\n(.*?)\n", last)
    if found:
        word = found.group(1)
        answer = f"un{word}" if len(messages) > 2 else word
        return f"[[ ## target ## ]]\n{answer}\n\n[[ ## completed ## ]]"
    fields = [f for f in re.findall(r"`\[\[ ## (\w+) ## \]\]`", last) if f != "completed"]
    return "".join(f"[[ ## {f} ## ]]\nSome text.\n\n" for f in fields) + "[[ ## completed ## ]]"


def hotpot_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        founder, company = f"Zed Quux{i}", f"Acme{i}"
        context = [
            [company, [f"{company} is a firm.", f" It was founded by {founder}."]],
            [founder, [f"{founder} was born in {1900 + i}."]],
            [f"Other{i}", [f"Other{i} is a distractor about {company}s."]],
        ]
        rows.append(
            {
                "id": f"hp{i}",
                "input": f"In what year was the founder of {company} born?",
                "target": str(1900 + i),
                "context": context,
            }
        )
    return rows


def hotpot_reader(request: LMRequest) -> str:
    """Plays all three multi-hop prompts, in promptc's XML or DSPy's ``[[ ## ]]`` format."""
    text = "\n".join(m["content"] for m in request.message_list[-1:])
    dspy_format = "[[ ## question ## ]]" in text
    asks_query = "short search query" in request.message_list[0]["content"]
    if asks_query:
        founder = re.findall(r"founded by (Zed Quux\d+)", text)
        value = founder[-1] if founder else re.findall(r"founder of (Acme\d+)", text)[-1]
        field = "query"
    else:
        founder = re.findall(r"founded by (Zed Quux\d+)", text)
        born = re.findall(rf"{founder[0]} was born in (\d+)", text) if founder else []
        value, field = (born[0] if born else "unknown"), "answer"
    if dspy_format:
        return f"[[ ## {field} ## ]]\n{value}\n\n[[ ## completed ## ]]"
    return f"<{field}>{value}</{field}>"


# -- DSPy's three adapters (chat, xml, json) and promptc's format, in one fake ------------------

_OUTPUT_LIST = re.compile(r"Your output fields are:\n(.*?)\nAll interactions", re.DOTALL)
_MARKERS = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)\n")
_TAGS = re.compile(r"<(\w+)>\n(.*?)\n</\1>", re.DOTALL)


def dspy_adapter(request: LMRequest) -> str | None:
    """``chat``, ``xml`` or ``json``: the DSPy adapter that wrote the prompt; ``None``: promptc."""
    system = request.message_list[0]["content"]
    if "All interactions will be structured" not in system:
        return None
    if "Outputs will be a JSON object" in system:
        return "json"
    return "xml" if re.search(r"<(\w+)>\n\{\1\}\n</\1>", system) else "chat"


def dspy_fields(request: LMRequest) -> tuple[dict[str, str], list[str]]:
    """The input values of the last user turn and the output fields, of a DSPy prompt."""
    messages = request.message_list
    listed = _OUTPUT_LIST.search(messages[0]["content"])
    outputs = re.findall(r"^\d+\. `(\w+)`", listed.group(1), re.M) if listed else []
    pattern = _TAGS if dspy_adapter(request) == "xml" else _MARKERS
    return dict(pattern.findall(messages[-1]["content"])), outputs


def dspy_reply(adapter: str, values: dict[str, Any]) -> str:
    """A reply in the format of DSPy adapter ``adapter``."""
    if adapter == "json":
        return json.dumps(values)
    if adapter == "xml":
        return "\n".join(f"<{k}>\n{v}\n</{k}>" for k, v in values.items())
    return "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in values.items()) + "[[ ## completed ## ]]"


def adapter_reader(good: set[str]) -> Any:
    """A fake LM for ``input -> target`` antonym rows: promptc's prompts as
    :func:`demo_reader`; a DSPy prompt right only with demos and only when its adapter is in
    ``good``; some text for any other field DSPy asks for (MIPROv2's proposals)."""

    def answer(request: LMRequest) -> str:
        adapter = dspy_adapter(request)
        if adapter is None:
            return demo_reader(request)
        inputs, outputs = dspy_fields(request)
        if outputs == ["target"]:
            word = inputs["input"]
            right = adapter in good and len(request.message_list) > 2
            return dspy_reply(adapter, {"target": f"un{word}" if right else word})
        return dspy_reply(adapter, dict.fromkeys(outputs, "Some text."))

    return answer


def math_reader(request: LMRequest) -> str:
    """Solves ``N+M?`` for MathCoT (``question -> reasoning, answer``), in promptc's format
    and in DSPy's chat format."""
    adapter = dspy_adapter(request)
    if adapter is None:
        found = re.search(r"<question>\n(\d+)\+(\d+)\?", request.message_list[-1]["content"])
        assert found is not None, request.message_list[-1]["content"]
        total = int(found.group(1)) + int(found.group(2))
        return f"<reasoning>Add them.</reasoning>\n<answer>{total}</answer>"
    inputs, outputs = dspy_fields(request)
    if "question" in inputs:
        a, b = re.findall(r"\d+", inputs["question"])[:2]
        return dspy_reply(adapter, {"reasoning": "Add them.", "answer": int(a) + int(b)})
    return dspy_reply(adapter, dict.fromkeys(outputs, "Some text."))
