// Type-ahead pickers for filters that take a slug: <select data-picker="integration"
// data-picker-url="/search/suggest/?kind=integration"> (controlplane.filters.PickerSelect).
// Tom Select shows names and asks the suggest endpoint as the user types; the form still
// submits the slug. Without this file the select keeps its chosen option and "Any".
(function () {
  if (!window.TomSelect) {
    return;
  }
  function load(url) {
    return function (query, callback) {
      fetch(url + "&q=" + encodeURIComponent(query), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : {results: []}; })
        .then(function (data) { callback(data.results); })
        .catch(function () { callback(); });
    };
  }
  function init(root) {
    root.querySelectorAll("select[data-picker]").forEach(function (el) {
      if (el.tomselect) {
        return;
      }
      new window.TomSelect(el, {
        valueField: "value",
        labelField: "label",
        searchField: ["label", "hint"],
        allowEmptyOption: true,
        maxOptions: 20,
        preload: "focus",
        loadThrottle: 200,
        shouldLoad: function () { return true; },
        load: load(el.getAttribute("data-picker-url")),
        render: {
          option: function (item, escape) {
            return "<div>" + escape(item.label) + (item.hint ? " <small class=\"muted\">" + escape(item.hint) + "</small>" : "") + "</div>";
          },
          item: function (item, escape) { return "<div>" + escape(item.label) + "</div>"; },
          no_results: function () { return "<div class=\"no-results\">No match</div>"; }
        }
      });
    });
  }
  init(document);
  document.addEventListener("htmx:afterSwap", function (evt) { init(evt.target); });
})();
