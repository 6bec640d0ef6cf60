// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", function (evt) {
  var box = document.querySelector(".messages");
  if (!box) {
    box = document.createElement("div");
    box.className = "messages";
    box.setAttribute("role", "status");
    document.getElementById("main").prepend(box);
  }
  var msg = document.createElement("article");
  msg.className = "message message-error";
  msg.textContent = "The action failed (" + evt.detail.xhr.status + "). Reload the page and try again.";
  box.appendChild(msg);
});

// Behaviour that used to be inline handlers (onclick=, onchange=, hx-on), which the
// Content-Security-Policy does not allow.
document.addEventListener("click", function (evt) {
  var link = evt.target.closest("[data-print]");
  if (link) {
    evt.preventDefault();
    window.print();
  }
});
document.addEventListener("change", function (evt) {
  if (evt.target.matches("select[data-autosubmit]") && evt.target.form) {
    evt.target.form.submit();
  }
});
document.addEventListener("htmx:afterRequest", function (evt) {
  var form = evt.detail.elt;
  if (evt.detail.successful && form && form.matches && form.matches("form[data-reset-on-success]")) {
    form.reset();
  }
});

// The status board answers a poll with 204 when nothing changed (htmx swaps nothing):
// still show when it was last checked.
document.addEventListener("htmx:afterRequest", function (evt) {
  var board = evt.detail.elt;
  if (board && board.id === "board" && evt.detail.xhr && evt.detail.xhr.status === 204) {
    var checked = board.querySelector("[data-board-checked]");
    if (checked) {
      checked.textContent = new Date().toISOString().substring(11, 19);
    }
  }
});
