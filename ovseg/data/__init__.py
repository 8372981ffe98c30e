"""Datasets: benchmark specs and layouts, class names, prompt templates, data modules."""
