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
