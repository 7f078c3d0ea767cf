"""The homepage, served by Marquee: a profile picker, a member's page of rows with personalised
artwork, title pages with Play, and search as you type. :mod:`~marquee.serve.web.pages` builds pages
(no HTTP), :mod:`~marquee.serve.web.render` writes their HTML, :mod:`~marquee.serve.web.routes` serves them."""

from marquee.serve.web.pages import PAGE_EXPERIMENT, HomePages, RenderedPage, Tile

__all__ = ["PAGE_EXPERIMENT", "HomePages", "RenderedPage", "Tile"]
