"""The review page and the dashboard, served on this machine: Starlette for the routes,
Jinja2 for the pages, uvicorn as the server, our own small script for the chips and the
keys (no framework, nothing loaded from the internet). ``guard`` decides who may see and
change anything; ``views`` turns the job table into what a page shows; ``thumbnails`` makes
each picture once; ``app`` wires the routes; ``server`` runs it."""
