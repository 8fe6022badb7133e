(function () {
  if (!navigator.clipboard || !window.isSecureContext) return;
  document.querySelectorAll("[data-copy]").forEach(function (el) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "copy";
    b.textContent = "Copy";
    b.setAttribute("aria-label", "Copy " + el.getAttribute("data-copy"));
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 1500);
      }, function () {
        b.textContent = "Select and copy";
      });
    });
    el.after(b);
  });
})();
