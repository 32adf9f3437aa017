// Progressive enhancement only: every page works without this file.
// Copy buttons next to secrets (hidden until this script shows them).
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = document.getElementById(button.dataset.copy).textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    });
  });
});
// Bring the error summary of a rejected form into view and focus.
var summary = document.getElementById("error-summary");
if (summary) summary.focus();
