// visionati-sync's pages: chips, decisions and keys on the review page; live figures on the
// dashboard. No framework: a few functions over the server's HTML.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text) {
  const said = document.getElementById("said");
  if (said) said.textContent = text;
}

// -- the review page --------------------------------------------------------------------

const cards = () => [...document.querySelectorAll(".card:not(.decided)")];

function toggle(chip, on) {
  const pressed = on === undefined ? chip.getAttribute("aria-pressed") !== "true" : on;
  chip.setAttribute("aria-pressed", String(pressed));
}

function decision(card, kind) {
  const kept = [...card.querySelectorAll('.chip[aria-pressed="true"]')].map((c) => c.dataset.key);
  return {
    job_id: Number(card.dataset.job),
    decision: kind,
    kept,
    description: card.querySelector("textarea").value,
  };
}

async function decide(list, kind) {
  if (!list.length) return;
  list.forEach((card) => card.classList.add("busy"));
  try {
    const { results } = await post("/api/review", { decisions: list.map((c) => decision(c, kind)) });
    for (const card of list) {
      const outcome = results[card.dataset.job] || "?";
      card.classList.remove("busy");
      card.classList.add("decided", outcome);
      card.querySelector(".outcome").textContent = outcome;
    }
    const waiting = document.getElementById("waiting");
    if (waiting) waiting.textContent = String(Math.max(0, Number(waiting.textContent) - list.length));
    say(`${list.length} ${kind === "reject" ? "rejected" : "accepted"}`);
  } catch (error) {
    list.forEach((card) => card.classList.remove("busy"));
    say(`not done: ${error.message}`);
  }
}

function focusCard(step) {
  const all = cards();
  if (!all.length) return;
  const at = all.indexOf(document.activeElement.closest(".card"));
  const next = all[Math.min(all.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

function sameWord(word) {
  const folded = word.trim().toLowerCase();
  return [...document.querySelectorAll(".card:not(.decided) .chip")].filter((c) => c.dataset.word === folded);
}

function reviewPage() {
  document.addEventListener("click", (event) => {
    const chip = event.target.closest(".chip");
    if (chip) return toggle(chip);
    const card = event.target.closest(".card");
    if (event.target.closest(".accept")) return decide([card], "accept");
    if (event.target.closest(".reject")) return decide([card], "reject");
  });
  document.getElementById("accept-page").addEventListener("click", () => decide(cards(), "accept"));
  document.getElementById("apply-threshold").addEventListener("click", () => {
    const floor = Number(document.getElementById("threshold").value);
    for (const chip of document.querySelectorAll(".card:not(.decided) .chip")) {
      toggle(chip, Number(chip.dataset.score) >= floor);
    }
  });
  document.getElementById("remove-word").addEventListener("click", () => {
    const chips = sameWord(document.getElementById("bulk-word").value);
    chips.forEach((chip) => toggle(chip, false));
    say(`removed from ${chips.length} photos`);
  });
  document.getElementById("never-word").addEventListener("click", async () => {
    const word = document.getElementById("bulk-word").value.trim();
    if (!word) return say("type the word first");
    try {
      await post("/api/never", { word });
      sameWord(word).forEach((chip) => { toggle(chip, false); chip.hidden = true; });
      say(`"${word}" will not be written again`);
    } catch (error) {
      say(`not done: ${error.message}`);
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("textarea, input, select")) {
      if (event.key === "Escape") event.target.closest(".card")?.focus();
      return;
    }
    const card = document.activeElement.closest(".card:not(.decided)");
    if (event.key === "j" || event.key === "ArrowRight") { focusCard(1); event.preventDefault(); }
    else if (event.key === "k" || event.key === "ArrowLeft") { focusCard(-1); event.preventDefault(); }
    else if (event.key === "A") decide(cards(), "accept");
    else if (!card) return;
    else if (event.key === "a") { const next = cards()[cards().indexOf(card) + 1]; decide([card], "accept"); next?.focus(); }
    else if (event.key === "x") { const next = cards()[cards().indexOf(card) + 1]; decide([card], "reject"); next?.focus(); }
    else if (event.key === "e") { card.querySelector("textarea").focus(); event.preventDefault(); }
    else if (/^[1-9]$/.test(event.key)) {
      const chip = card.querySelectorAll(".chip:not([hidden])")[Number(event.key) - 1];
      if (chip) toggle(chip);
    }
  });
  cards()[0]?.focus();
}

// -- the dashboard --------------------------------------------------------------------------

function field(data, path) {
  return path.split(".").reduce((value, key) => (value == null ? value : value[key]), data);
}

async function refresh() {
  try {
    const response = await fetch("/api/status", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    for (const element of document.querySelectorAll("[data-field]")) {
      const value = field(data, element.dataset.field);
      if (element.dataset.field === "paused.reason") {
        element.textContent = value ? `Uploads paused: ${value}` : "";
      } else if (value !== undefined && value !== null) {
        element.textContent = String(value);
      }
    }
    document.body.dataset.refreshed = String(Date.now());
  } catch (error) { /* the next tick tries again */ }
}

function dashboardPage() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest(".retry");
    if (!button) return;
    const item = button.closest("[data-job]");
    try {
      const { queued } = await post(`/api/retry/${item.dataset.job}`, {});
      item.querySelector(".outcome").textContent = queued ? "queued again" : "not failed any more";
    } catch (error) {
      item.querySelector(".outcome").textContent = `not done: ${error.message}`;
    }
  });
  refresh();
  setInterval(refresh, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "review") reviewPage();
  if (document.body.dataset.page === "dashboard") dashboardPage();
});
