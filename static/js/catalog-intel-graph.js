/* Layered, left-to-right graph of systems and integrations (neighbourhood and estate map).
   Reads Cytoscape elements from the JSON endpoint named in data-url and lays them out with
   dagre (vendored cytoscape-dagre): a system is read by an integration, which delivers into
   the next system. Labels sit inside nodes sized to them, so dagre spaces them apart;
   hovering an arrow shows the entities it carries; clicking a node opens its page.
   Without JavaScript the page shows the same integrations as sentences. */
(function () {
  "use strict";
  var box = document.getElementById("intel-graph");
  if (!box || typeof window.cytoscape !== "function") { return; }
  var tip = document.getElementById("graph-tip");
  var FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var MAX_TEXT = 150;
  var READABLE_ZOOM = 0.7;
  var measure = document.createElement("canvas").getContext("2d");
  measure.font = FONT;

  // Wrap a label the way Cytoscape will (text-max-width) and size the node to it.
  function size(label) {
    var words = String(label).split(/\s+/), lines = [], line = "";
    words.forEach(function (word) {
      var next = line ? line + " " + word : word;
      if (line && measure.measureText(next).width > MAX_TEXT) { lines.push(line); line = word; } else { line = next; }
    });
    if (line) { lines.push(line); }
    var width = 0;
    lines.forEach(function (l) { width = Math.max(width, measure.measureText(l).width); });
    return { w: Math.ceil(Math.min(width, MAX_TEXT)) + 18, h: lines.length * 14 + 12 };
  }

  var style = [
    { selector: "node", style: {
        "label": "data(label)", "font-size": 11, "font-family": "system-ui, sans-serif",
        "text-valign": "center", "text-halign": "center", "text-wrap": "wrap", "text-max-width": MAX_TEXT + "px",
        "width": "data(w)", "height": "data(h)", "shape": "round-rectangle", "color": "#fff",
        "background-color": "#607d8b", "border-width": 1, "border-color": "#37474f" } },
    { selector: "node[kind = 'system']", style: { "background-color": "#1565c0", "border-color": "#0d47a1" } },
    { selector: "node[kind = 'system'][?hub]", style: { "background-color": "#4a148c", "shape": "barrel" } },
    { selector: "node[kind = 'integration']", style: {
        "background-color": "#fff3e0", "color": "#3e2723", "border-color": "#ef6c00", "shape": "round-rectangle" } },
    { selector: "node[kind = 'integration'][tier = 1]", style: { "border-width": 3, "border-color": "#bf360c" } },
    { selector: "node[kind = 'api']", style: { "background-color": "#6a1b9a", "shape": "cut-rectangle" } },
    { selector: "node[kind = 'workflow']", style: { "background-color": "#00838f", "shape": "tag" } },
    { selector: "node[kind = 'team']", style: { "background-color": "#5d4037", "shape": "ellipse" } },
    { selector: "node[lifecycle = 'deprecated'], node[lifecycle = 'retiring'], node[lifecycle = 'legacy']",
      style: { "border-style": "dashed", "border-width": 2, "border-color": "#b71c1c" } },
    { selector: "node[?focus]", style: { "border-width": 4, "border-color": "#000", "font-weight": "bold" } },
    { selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.9, "width": 1.5,
        "line-color": "#90a4ae", "target-arrow-color": "#90a4ae", "font-size": 10, "color": "#263238",
        "text-background-color": "#fff", "text-background-opacity": 0.9, "text-background-padding": 2 } },
    { selector: "edge[kind = 'through']", style: { "line-style": "dashed", "line-color": "#7e57c2",
                                                   "target-arrow-color": "#7e57c2" } },
    { selector: "edge[kind = 'uses'], edge[kind = 'serves'], edge[kind = 'owns']",
      style: { "line-style": "dotted", "line-color": "#bdbdbd", "target-arrow-color": "#bdbdbd" } },
    { selector: "edge.hover", style: { "label": "data(label)", "width": 3, "line-color": "#ef6c00",
                                       "target-arrow-color": "#ef6c00", "z-index": 10 } },
    { selector: "node.hover", style: { "overlay-opacity": 0.12 } }
  ];

  function showTip(evt, text) {
    if (!tip) { return; }
    var pos = evt.renderedPosition || { x: 0, y: 0 };
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = Math.round(pos.x + 12) + "px";
    tip.style.top = Math.round(pos.y + 12) + "px";
  }

  function hideTip() { if (tip) { tip.hidden = true; } }

  fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (data) {
      var nodes = data.nodes.map(function (n) {
        var dims = size(n.data.label);
        n.data.w = dims.w; n.data.h = dims.h;
        return n;
      });
      box.classList.add("ready");
      if (!nodes.length) { box.classList.add("empty"); return; }
      var cy = window.cytoscape({
        container: box,
        elements: { nodes: nodes, edges: data.edges },
        style: style,
        wheelSensitivity: 0.3,
        minZoom: 0.1,
        maxZoom: 2.5,
        layout: { name: "dagre", rankDir: "LR", nodeSep: 14, rankSep: 70, edgeSep: 8, ranker: "network-simplex",
                  nodeDimensionsIncludeLabels: true, padding: 16, fit: true, animate: false }
      });
      cy.on("tap", "node", function (evt) {
        var url = evt.target.data("url");
        if (url) { window.location.href = url; }
      });
      cy.on("mouseover", "edge", function (evt) { evt.target.addClass("hover"); showTip(evt, evt.target.data("title")); });
      cy.on("mouseout", "edge", function (evt) { evt.target.removeClass("hover"); hideTip(); });
      cy.on("mouseover", "node", function (evt) {
        var d = evt.target.data();
        evt.target.addClass("hover");
        box.classList.add("pointing");
        var text = d.label + (d.kind === "integration" ? " — carries " + d.entities + (d.via ? ", via " + d.via : "")
                                                       : d.category_label ? " (" + d.category_label + ")" : "");
        showTip(evt, text);
      });
      cy.on("mouseout", "node", function (evt) { evt.target.removeClass("hover"); box.classList.remove("pointing"); hideTip(); });
      // A large map fitted whole would shrink labels past reading: start at a readable
      // zoom on the busiest node (or this object); scroll to zoom out for the overview.
      if (cy.zoom() < READABLE_ZOOM) {
        var centre = cy.nodes("[?focus]");
        if (!centre.length) { centre = cy.nodes().max(function (n) { return n.degree(); }).ele; }
        cy.zoom(READABLE_ZOOM);
        cy.center(centre);
      }
      var list = document.getElementById("graph-list");
      if (list) { list.removeAttribute("open"); }
      box.dataset.layout = "dagre-LR";
      box.cytoscapeInstance = cy;
    })
    .catch(function () { box.classList.add("failed"); });
})();
