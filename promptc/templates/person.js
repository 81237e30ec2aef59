"use strict";
// The page a person answers preference questions on. Inputs and outputs are untrusted model
// text: they are shown with textContent only, never parsed as HTML.

const KEYS = { a: "A", b: "B", t: "tie", s: "skip" };
let current = null; // the id of the question on screen, null when none is
let lastSeen = 0; // the newest question id received; the server holds polls until a newer one
let sending = false;

const byId = (id) => document.getElementById(id);

function showFields(list, fields) {
  list.replaceChildren();
  for (const [name, value] of Object.entries(fields)) {
    const term = document.createElement("dt");
    term.textContent = name;
    const text = document.createElement("dd");
    text.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    list.append(term, text);
  }
}

function setStatus(text, kind) {
  const status = byId("status");
  status.textContent = text;
  status.className = kind || "";
}

function enable(on) {
  for (const button of document.querySelectorAll("#buttons button")) button.disabled = !on;
}

function hideQuestion(text, kind) {
  current = null;
  byId("question").hidden = true;
  enable(false);
  setStatus(text, kind);
}

function render(state) {
  const progress = state.progress;
  byId("progress").textContent = progress
    ? `${progress.answered} of ${progress.budget} answered`
    : "";
  if (state.state === "done") {
    hideQuestion("Done: thank you. You can close this page.", "done");
  } else if (state.state !== "question") {
    hideQuestion("Waiting for the next question…", "");
  } else if (state.id !== current) {
    current = lastSeen = state.id;
    showFields(byId("inputs"), state.inputs);
    showFields(byId("a"), state.a);
    showFields(byId("b"), state.b);
    byId("question").hidden = false;
    setStatus(`Question ${state.id}`, "");
    enable(true);
  }
}

async function answer(verdict) {
  if (current === null || sending) return;
  sending = true;
  enable(false);
  try {
    const response = await fetch("api/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: current, verdict }),
    });
    if (response.ok) hideQuestion("Waiting for the next question…", "");
    else hideQuestion((await response.json()).error, "error"); // e.g. answered in another tab
  } catch (error) {
    setStatus(`Could not send the answer (${error}); try again.`, "error");
    enable(true);
  } finally {
    sending = false;
  }
}

async function poll() {
  for (;;) {
    let state;
    try {
      const response = await fetch(`api/question?after=${lastSeen}`, { cache: "no-store" });
      state = await response.json();
      if (!response.ok) throw new Error(state.error);
    } catch (error) {
      // Usually the compile has ended and closed the page's server.
      hideQuestion(`No connection to the compile (${error.message}): it has ended or stopped.`, "error");
      return;
    }
    render(state);
    if (state.state === "done") return;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const verdict = KEYS[event.key.toLowerCase()];
  if (verdict === undefined) return;
  event.preventDefault();
  answer(verdict);
});
for (const button of document.querySelectorAll("#buttons button")) {
  button.addEventListener("click", () => answer(button.dataset.verdict));
}
enable(false);
poll();
