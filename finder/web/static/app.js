// finder serve's page.  Every name and fact from the server is shown with textContent (never as HTML).
"use strict";

const state = { csrf: "", offset: 0, limit: 20, total: 0, groups: [], gi: 0, mi: 0, selected: new Set(),
  plan: null, compare: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text) { $("status").textContent = text; }

async function api(path, body, raw) {
  const options = { headers: { "X-CSRF-Token": state.csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    options.method = "POST";
    if (raw) { options.body = body; options.headers["Content-Type"] = "application/octet-stream"; }
    else { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function bytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let k = 0;
  while (n >= 1000 && k < units.length - 1) { n /= 1000; k += 1; }
  return (k ? n.toFixed(1) : n) + " " + units[k];
}

async function loadState() {
  const s = await api("/api/state");
  state.csrf = s.csrf;
  state.summary = s;
  if (!$("to").value) $("to").value = s.default_to;
  showSummary();
}

function showSummary() {
  const s = state.summary;
  $("summary").textContent = `${s.hashfile}: ${s.files.toLocaleString()} files, ${state.total.toLocaleString()} ` +
    `groups shown (${s.hidden.toLocaleString()} kept whole or settled), ${s.algorithm} ≤ ${s.max_distance} of ` +
    `${s.bits} bits; keep rules: ${s.keep_rules}`;
}

async function loadPage(keepFocus) {
  const q = new URLSearchParams({ offset: state.offset, limit: state.limit, sort: $("sort").value,
    reviewed: $("reviewed").value, folder: $("folder").value });
  const page = await api("/api/groups?" + q);
  state.groups = page.groups;
  state.total = page.total;
  if (state.offset >= page.total && page.total > 0) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / state.limit) * state.limit);
    return loadPage(keepFocus);
  }
  if (!keepFocus) { state.gi = 0; state.mi = 0; }
  state.gi = Math.min(state.gi, Math.max(0, state.groups.length - 1));
  render();
  const last = Math.min(page.total, state.offset + state.groups.length);
  $("pageinfo").textContent = page.total ? `groups ${state.offset + 1}–${last} of ${page.total} · ` +
    `${bytes(page.reclaim)} to reclaim` : "no groups";
  if (state.summary) { state.summary.groups = page.total; showSummary(); }
}

function memberCard(group, m, gi, mi) {
  const badges = el("div", {},
    m.keeper ? el("span", { class: "badge keep" }, "keep") : null,
    m.kept_with ? el("span", { class: "badge keep" }, "kept with keeper") : null,
    m.reference ? el("span", { class: "badge ref" }, "reference") : null,
    m.burst ? el("span", { class: "badge burst", title: "taken within seconds of another member" }, "burst") : null);
  const size = m.width ? `${m.width}×${m.height}` : "";
  const card = el("div", { class: "member" + (m.keeper ? " keeper" : ""), "data-file": m.file },
    el("img", { src: `/thumb/${m.file}`, alt: m.name, loading: "lazy" }),
    badges,
    el("div", { class: "name" }, m.name),
    el("div", { class: "folder" }, m.folder),
    el("div", { class: "facts" }, [size, bytes(m.bytes), m.format || "", m.taken || m.mtime || ""]
      .filter(Boolean).join(" · ")),
    el("div", { class: "facts" }, m.keeper ? "keeper" : `distance ${m.distance}` + (m.view ? ` (${m.view})` : "")),
    m.problem ? el("div", { class: "facts" }, m.problem) : null,
    el("div", {},
      el("button", { type: "button", class: "keep", onclick: () => decide("keeper", group, m) }, "keep this"),
      m.keeper ? null : el("button", { type: "button", class: "distinct", onclick: () => decide("distinct", group, m) },
        "not a duplicate"),
      m.keeper ? null : el("button", { type: "button", class: "compare", onclick: () => openCompare(group, m) },
        "compare")));
  card.addEventListener("click", () => { state.gi = gi; state.mi = mi; highlight(); });
  return card;
}

function render() {
  const main = $("groups");
  main.replaceChildren();
  state.groups.forEach((group, gi) => {
    const check = el("input", { type: "checkbox", class: "select", checked: state.selected.has(group.id),
      onchange: (e) => { if (e.target.checked) state.selected.add(group.id); else state.selected.delete(group.id); } });
    const card = el("section", { class: "group" + (group.reviewed ? " reviewed" : ""), "data-id": group.id },
      el("h2", {}, check, ` Group ${group.id + 1} · ${group.size} images · ${bytes(group.reclaim)} to reclaim · ` +
        `max distance ${group.distance} of ${group.bits}`),
      el("p", { class: "reason" }, `keeper: ${group.keeper ? group.keeper.split("/").pop() : "none"} — ` +
        (group.keeper_reason || "")),
      el("div", { class: "members" }, ...group.members.map((m, mi) => memberCard(group, m, gi, mi))),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "keep-all", onclick: () => decide("keep_all", group) }, "keep all"),
        el("button", { type: "button", class: "distinct-group", onclick: () => decide("distinct_group", group) },
          "none are duplicates"),
        el("button", { type: "button", class: "mark-reviewed", onclick: () => decide("reviewed", group) },
          "mark reviewed")));
    main.append(card);
  });
  highlight();
}

function highlight() {
  document.querySelectorAll(".group.current, .member.current").forEach((n) => n.classList.remove("current"));
  const card = document.querySelectorAll("#groups .group")[state.gi];
  if (!card) return;
  card.classList.add("current");
  const members = card.querySelectorAll(".member");
  state.mi = Math.min(state.mi, members.length - 1);
  if (members[state.mi]) members[state.mi].classList.add("current");
  card.scrollIntoView({ block: "nearest" });
}

async function decide(kind, group, member) {
  try {
    const body = { kind, group: group.id };
    if (member) body.file = member.file;
    await api("/api/decide", body);
    say({ keeper: "keeper changed", distinct: "marked not a duplicate", distinct_group: "group marked not duplicates",
      keep_all: "group kept whole", reviewed: "marked reviewed" }[kind] + " (saved)");
    await loadPage(true);
  } catch (error) { say("refused: " + error.message); }
}

async function undo() {
  try { await api("/api/undo", {}); say("undone"); await loadPage(true); } catch (error) { say(error.message); }
}

function current() { return state.groups[state.gi]; }

function currentMember() { const g = current(); return g ? g.members[state.mi] : null; }

function page(delta) {
  const next = state.offset + delta * state.limit;
  if (next < 0 || next >= state.total) return;
  state.offset = next;
  loadPage(false);
}

// ---------------------------------------------------------------------------------------------- compare

const view = { scale: 1, x: 0, y: 0, flicker: null, swapped: false, diff: false };

function applyView() {
  for (const id of ["img-a", "img-b"]) {
    $(id).style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
  }
}

function fit() {
  const img = $("img-a"), box = $("view-a");
  if (!img.naturalWidth) return;
  view.scale = Math.min(box.clientWidth / img.naturalWidth, box.clientHeight / img.naturalHeight);
  view.x = 0; view.y = 0; applyView();
}

function showPair() {
  const { a, b } = state.compare;
  const [first, second] = view.swapped ? [b, a] : [a, b];
  $("img-a").src = `/image/${first.file}`;
  $("img-b").src = view.diff ? `/diff/${first.file}/${second.file}` : `/image/${second.file}`;
  $("label-a").textContent = first.path;
  $("label-b").textContent = view.diff ? "difference (black: the same)" : second.path;
}

async function openCompare(group, member) {
  const keeper = group.members.find((m) => m.keeper) || group.members[0];
  if (!member || member.file === keeper.file) member = group.members.find((m) => m.file !== keeper.file);
  try {
    const data = await api(`/api/compare?a=${keeper.file}&b=${member.file}`);
    state.compare = data;
    Object.assign(view, { swapped: false, diff: false });
    $("compare").hidden = false;
    showPair();
    const table = $("compare-meta");
    table.replaceChildren(el("tr", {}, el("th", {}, ""), el("th", {}, "keeper"), el("th", {}, "other")));
    for (const [label, key] of [["path", "path"], ["pixels", "width"], ["bytes", "bytes"], ["format", "format"],
      ["taken (EXIF)", "taken"], ["camera", "camera"], ["modified", "mtime"]]) {
      const cell = (f) => key === "width" ? (f.width ? `${f.width}×${f.height}` : "?")
        : key === "bytes" ? bytes(f.bytes) : (f[key] ?? "");
      table.append(el("tr", {}, el("th", {}, label), el("td", {}, cell(data.a)), el("td", {}, cell(data.b))));
    }
    const why = data.why;
    const lines = [`${why.verdict}`, `${why.algorithm}: distance ${why.distance ?? "—"} of ${why.bits} bits` +
      (why.view ? ` via ${why.view}` : "") + `, radius ${why.radius} (views ${why.view_radius})` +
      (why.marked_distinct ? " · marked not a duplicate" : "")];
    for (const r of why.rows) lines.push(`  ${r.view_a} × ${r.view_b}: ${r.distance}  ${r.decided}`);
    $("compare-why").textContent = lines.join("\n");
  } catch (error) { say(error.message); }
}

function closeCompare() {
  $("compare").hidden = true;
  if (view.flicker) { clearInterval(view.flicker); view.flicker = null; }
}

function setupCompare() {
  $("img-a").addEventListener("load", fit);
  $("zoom-fit").onclick = fit;
  $("zoom-1").onclick = () => { view.scale = 1; view.x = 0; view.y = 0; applyView(); };
  $("swap").onclick = () => { view.swapped = !view.swapped; showPair(); };
  $("diff").onclick = () => { view.diff = !view.diff; showPair(); };
  $("flicker").onclick = () => {
    if (view.flicker) { clearInterval(view.flicker); view.flicker = null; return; }
    view.flicker = setInterval(() => { view.swapped = !view.swapped; showPair(); }, 500);
  };
  $("compare-close").onclick = closeCompare;
  for (const id of ["view-a", "view-b"]) {
    const box = $(id);
    box.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = box.getBoundingClientRect();
      const px = e.clientX - rect.left, py = e.clientY - rect.top;
      const factor = e.deltaY < 0 ? 1.25 : 0.8;
      view.x = px - (px - view.x) * factor; view.y = py - (py - view.y) * factor;
      view.scale *= factor; applyView();
    }, { passive: false });
    let drag = null;
    box.addEventListener("pointerdown", (e) => { drag = { x: e.clientX - view.x, y: e.clientY - view.y };
      box.setPointerCapture(e.pointerId); });
    box.addEventListener("pointermove", (e) => { if (drag) { view.x = e.clientX - drag.x; view.y = e.clientY - drag.y;
      applyView(); } });
    box.addEventListener("pointerup", () => { drag = null; });
  }
}

// ----------------------------------------------------------------------------------------------- search

function showResults(data) {
  const list = el("ol", { class: "results" });
  for (const r of data.results) {
    list.append(el("li", { class: r.match ? "match" : "" },
      el("img", { src: `/thumb/${r.file}`, alt: "", width: 60 }), ` ${r.path} — distance ${r.distance}` +
      (r.view ? ` (${r.view})` : "") + (r.match ? " · match" : r.blocked ? ` · not a match: ${r.blocked}` : "")));
  }
  const matches = data.results.filter((r) => r.match).length;
  $("search-results").replaceChildren(el("p", {}, `${data.query}: ${matches} matches within ${data.max_distance} ` +
    `of ${data.bits} bits; nearest first`), list);
}

async function searchFile(file) {
  if (!file) return;
  if (file.size > state.summary.max_upload) { say(`${file.name} is larger than the upload limit`); return; }
  try { showResults(await api("/api/search", await file.arrayBuffer(), true)); } catch (error) {
    $("search-results").textContent = "search failed: " + error.message;
  }
}

function setupSearch() {
  $("upload").addEventListener("change", (e) => searchFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over");
    searchFile(e.dataTransfer.files[0]); });
  $("search-path-go").onclick = async () => {
    try { showResults(await api("/api/search-path", { path: $("search-path").value })); } catch (error) {
      $("search-results").textContent = "search failed: " + error.message;
    }
  };
}

// -------------------------------------------------------------------------------------------------- act

function stepLine(s) {
  return s.path + (s.dest ? ` → ${s.dest}` : "") + ` (${bytes(s.bytes)})`;
}

function setupAct() {
  $("plan").onclick = async () => {
    const groups = [...state.selected];
    if (!groups.length) { say("select groups first (checkbox or x)"); return; }
    try {
      const plan = await api("/api/dedupe/plan", { groups, action: $("action").value, to: $("to").value });
      state.plan = plan.plan;
      const list = el("ul", {}, ...plan.steps.map((s) => el("li", {}, "would " + plan.action + " " + stepLine(s))),
        ...plan.refused.map(([p, why]) => el("li", {}, `refused ${p}: ${why}`)));
      $("act-result").replaceChildren(el("p", { class: "plan-summary" }, `dry run: ${plan.steps.length} files, ` +
        `${bytes(plan.freed)}; nothing changed yet`), list);
      $("apply").disabled = plan.steps.length === 0;
      $("undo-dedupe").disabled = true;
    } catch (error) { $("act-result").textContent = "refused: " + error.message; }
  };
  $("apply").onclick = async () => {
    try {
      const done = await api("/api/dedupe/apply", { plan: state.plan });
      $("act-result").replaceChildren(el("p", { class: "apply-summary" }, `done: ${done.done.length} files; ` +
        `${done.refused.length} refused; journal ${done.journal}`),
        el("ul", {}, ...done.done.map((s) => el("li", {}, stepLine(s)))));
      $("apply").disabled = true; $("undo-dedupe").disabled = false;
      state.selected.clear();
      await loadPage(true);
    } catch (error) { $("act-result").textContent = "failed: " + error.message; }
  };
  $("undo-dedupe").onclick = async () => {
    try {
      const back = await api("/api/dedupe/undo", { plan: state.plan });
      $("act-result").replaceChildren(el("p", { class: "undo-summary" }, `restored ${back.restored.length} files`));
      $("undo-dedupe").disabled = true;
      await loadPage(true);
    } catch (error) { $("act-result").textContent = "undo failed: " + error.message; }
  };
  $("apply-rule").onclick = async () => {
    const rule = $("rule-path").value.trim() || $("rule").value;
    const groups = $("rule-all").checked ? "all" : [...state.selected];
    try {
      const result = await api("/api/keep-rule", { rule, groups });
      $("rule-result").textContent = `${result.groups} groups decided, ${result.changed} keepers changed`;
      await loadPage(true);
    } catch (error) { $("rule-result").textContent = "refused: " + error.message; }
  };
}

// --------------------------------------------------------------------------------------------- keyboard

function onKey(e) {
  if (e.target.matches("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (!$("compare").hidden) {
    const keys = { Escape: closeCompare, s: () => $("swap").click(), f: () => $("flicker").click(),
      d: () => $("diff").click(), 1: () => $("zoom-1").click(), 0: fit };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    return;
  }
  const group = current(), member = currentMember();
  const keys = {
    j: () => { state.gi = Math.min(state.gi + 1, state.groups.length - 1); state.mi = 0; highlight(); },
    ArrowDown: () => keys.j(),
    k: () => { state.gi = Math.max(state.gi - 1, 0); state.mi = 0; highlight(); },
    ArrowUp: () => keys.k(),
    l: () => { state.mi = Math.min(state.mi + 1, group.members.length - 1); highlight(); },
    ArrowRight: () => keys.l(),
    h: () => { state.mi = Math.max(state.mi - 1, 0); highlight(); },
    ArrowLeft: () => keys.h(),
    Enter: () => decide("keeper", group, member),
    n: () => decide("distinct", group, member),
    a: () => decide("keep_all", group),
    r: () => decide("reviewed", group),
    x: () => { if (state.selected.has(group.id)) state.selected.delete(group.id); else state.selected.add(group.id);
      render(); },
    c: () => openCompare(group, member),
    u: undo,
    "]": () => page(1),
    "[": () => page(-1),
  };
  if (keys[e.key] && (group || ["]", "[", "u"].includes(e.key))) { e.preventDefault(); keys[e.key](); }
}

async function start() {
  const asked = Number(new URLSearchParams(location.search).get("limit"));
  if (asked > 0) state.limit = Math.min(200, asked);
  $("prev").onclick = () => page(-1);
  $("next").onclick = () => page(1);
  $("undo").onclick = undo;
  for (const id of ["sort", "reviewed"]) $(id).addEventListener("change", () => { state.offset = 0; loadPage(false); });
  $("folder").addEventListener("change", () => { state.offset = 0; loadPage(false); });
  document.addEventListener("keydown", onKey);
  setupCompare(); setupSearch(); setupAct();
  try { await loadState(); await loadPage(false); document.body.dataset.ready = "1"; } catch (error) {
    say("cannot load the review: " + error.message);
  }
}

start();
