/* Neighbourhood graph of a system or integration (catalog intelligence).
   Reads Cytoscape elements from the JSON endpoint named in data-url; clicking a node opens
   its page. Without JavaScript the page shows the same edges as a list. */
(function () {
  "use strict";
  var box = document.getElementById("intel-graph");
  if (!box || typeof window.cytoscape !== "function") { return; }
  var colours = { system: "#1565c0", api: "#6a1b9a", integration: "#ef6c00", entity: "#2e7d32",
                  workflow: "#00838f", team: "#5d4037" };
  fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (elements) {
      box.classList.add("ready");
      var cy = window.cytoscape({
        container: box,
        elements: elements,
        wheelSensitivity: 0.3,
        style: [
          { selector: "node", style: {
              "label": "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4,
              "background-color": function (n) { return colours[n.data("kind")] || "#607d8b"; },
              "width": 22, "height": 22 } },
          { selector: "node[?focus]", style: { "width": 34, "height": 34, "border-width": 3, "border-color": "#000" } },
          { selector: "node[kind = 'integration']", style: { "shape": "round-rectangle" } },
          { selector: "node[kind = 'api']", style: { "shape": "diamond" } },
          { selector: "node[lifecycle = 'retired'], node[lifecycle = 'deprecated']",
            style: { "opacity": 0.45, "border-width": 2, "border-style": "dashed", "border-color": "#b71c1c" } },
          { selector: "edge", style: {
              "label": "data(label)", "font-size": 9, "color": "#555", "curve-style": "bezier",
              "target-arrow-shape": "triangle", "width": 1.5, "line-color": "#b0bec5",
              "target-arrow-color": "#b0bec5", "text-rotation": "autorotate" } }
        ],
        layout: { name: "cose", animate: false, padding: 20, nodeRepulsion: 9000 }
      });
      cy.on("tap", "node", function (evt) {
        var url = evt.target.data("url");
        if (url) { window.location.href = url; }
      });
      var list = document.getElementById("graph-list");
      if (list) { list.removeAttribute("open"); }
      box.cytoscapeInstance = cy;
    })
    .catch(function () { box.classList.add("failed"); });
})();
