"""`make demo`: the whole loop on one machine, with a live view, the UIs and a closing summary."""
