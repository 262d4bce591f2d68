"""`rdrf report`: the QA report - plan (what it shows, from the catalogue), render (contact sheets
and overlays), sheets and figures (pure pictures and charts), page (the HTML)."""
