// Review page: scroll each side of the structural diff to its first finding, so the
// reviewer lands on the change instead of the top of a long document.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("pre.diff").forEach((pre) => {
    const target = pre.querySelector(".line.breaking, .line.finding, .line.changed, .line.added, .line.removed");
    if (target) pre.scrollTop = Math.max(0, target.offsetTop - pre.offsetTop - 80);
  });
  // Clicking a finding's path highlights its line in the diff.
  document.querySelectorAll("[data-finding-pointer]").forEach((el) => {
    el.addEventListener("click", (event) => {
      const pointer = el.dataset.findingPointer;
      let line = null;
      for (let p = pointer; p && !line; p = p.substring(0, p.lastIndexOf("/"))) {
        line = document.querySelector(`.diff-side:last-child .line[data-pointer="${CSS.escape(p)}"]`);
      }
      if (line) {
        event.preventDefault();
        line.scrollIntoView({ block: "center" });
        line.classList.add("flash");
        setTimeout(() => line.classList.remove("flash"), 1500);
      }
    });
  });
});

// Draft editor: a compatibility preview of the document being edited, on demand and as it
// changes (debounced), from POST /api/v1/stewardship/subjects/<slug>/preview/. Nothing is
// stored. Built with DOM calls and textContent only (strict CSP, no HTML from the server).
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("compat-preview");
  const textarea = document.getElementById("id_document");
  if (!box || !textarea) return;
  const out = document.getElementById("preview-result");
  const csrf = document.querySelector("#draft-form input[name=csrfmiddlewaretoken]");
  let timer = null;
  let seq = 0;

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => (k === "class" ? (node.className = v) : node.setAttribute(k, v)));
    children.forEach((c) => node.append(c));
    return node;
  };
  // `field` in a plain sentence -> <code>field</code>, as on the review page.
  const ticks = (text) => text.split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
  const badge = (ok) => el("span", { class: ok ? "badge badge-ok" : "badge badge-bad" }, ok ? "compatible" : "breaking");

  const render = (data) => {
    out.replaceChildren();
    if (!data.valid) {
      out.append(el("p", { class: "message message-error" }, "Not a valid schema yet:"),
        el("ul", {}, ...data.errors.map((e) => el("li", {}, el("code", {}, e)))));
      return;
    }
    const report = data.report;
    const findings = report.findings || [];
    const breaking = findings.filter((f) => !f.compatible);
    const head = el("p", { id: "preview-verdict" }, badge(report.compatible), " ",
      data.compared_with ? `against ${data.compared_with} (${data.level} / ${data.policy}): ` : "no approved version yet: ",
      breaking.length ? `${breaking.length} breaking change(s) would need a steward's justified acceptance.` : "nothing breaks.");
    out.append(head);
    if (!findings.length) return;
    const rows = findings.map((f) => {
      const cell = el("td", {}, el("code", {}, f.type), el("br"), el("span", { class: "finding-message" }, ...ticks(f.message || "")));
      const ce = f.counterexample;
      if (ce && ce.found) {
        cell.append(el("details", { class: "counterexample", open: "" },
          el("summary", {}, f.direction === "FORWARD" ? "Counterexample: this draft accepts it, the approved version refuses it"
            : "Counterexample: the approved version accepts it, this draft refuses it"),
          el("pre", { class: "code" }, JSON.stringify(ce.document, null, 2)),
          el("small", { class: "muted" }, "Refused because: " + (ce.refused_because || []).join("; "))));
      } else if (ce) {
        cell.append(el("br"), el("small", { class: "muted" }, "No counterexample: " + ce.note));
      }
      return el("tr", { class: f.compatible ? "" : "finding-breaking" }, cell, el("td", {}, el("code", {}, f.path)),
        el("td", {}, badge(f.compatible)));
    });
    out.append(el("table", { class: "compact findings", id: "preview-findings" },
      el("thead", {}, el("tr", {}, el("th", {}, "Change"), el("th", {}, "Path"), el("th", {}, "Verdict"))),
      el("tbody", {}, ...rows)));
  };

  const check = () => {
    let documentValue;
    try {
      documentValue = JSON.parse(textarea.value);
    } catch (error) {
      out.replaceChildren(el("p", { class: "muted" }, "Not valid JSON yet: " + error.message));
      return;
    }
    const mine = ++seq;
    out.setAttribute("aria-busy", "true");
    fetch(box.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf ? csrf.value : "" },
      body: JSON.stringify({ document: documentValue }),
    })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => {
        if (mine !== seq) return; // a newer edit is on its way
        out.removeAttribute("aria-busy");
        if (!ok) {
          out.replaceChildren(el("p", { class: "message message-error" }, (body.error && body.error.message) || "The preview failed."));
          return;
        }
        render(body);
      })
      .catch(() => { out.removeAttribute("aria-busy"); out.replaceChildren(el("p", { class: "message message-error" }, "The preview could not be loaded.")); });
  };

  document.getElementById("preview-now").addEventListener("click", check);
  textarea.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 700); });
  check();
});
