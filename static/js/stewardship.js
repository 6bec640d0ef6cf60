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
