// Exception pages: JSON editor checks (parse + format), select-all, "/" to search.
(function () {
  function checkJson(area, status) {
    try {
      JSON.parse(area.value);
      area.setAttribute("aria-invalid", "false");
      status.textContent = "Valid JSON.";
      status.classList.remove("error");
      return true;
    } catch (e) {
      area.setAttribute("aria-invalid", "true");
      status.textContent = "Invalid JSON: " + e.message;
      status.classList.add("error");
      return false;
    }
  }
  document.querySelectorAll("form.json-form").forEach(function (form) {
    var area = form.querySelector("textarea.json-editor");
    var status = form.querySelector(".json-status");
    if (!area) return;
    area.addEventListener("input", function () { checkJson(area, status); });
    var fmt = form.querySelector("[data-json-format]");
    if (fmt) fmt.addEventListener("click", function () {
      if (checkJson(area, status)) area.value = JSON.stringify(JSON.parse(area.value), null, 2);
    });
    form.addEventListener("submit", function (evt) {
      if (!checkJson(area, status)) { evt.preventDefault(); area.focus(); }
    });
  });
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      box.closest("table").querySelectorAll("input[name=ids]").forEach(function (c) { c.checked = box.checked; });
    });
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "/" || /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) return;
    var q = document.querySelector("input[name=q]");
    if (q) { evt.preventDefault(); q.focus(); }
  });
})();
