"""Routing library: road network model, path engine, signals, green wave, dispatch."""
