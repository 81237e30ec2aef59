"""The compile report: HTML view, chart, and the explanations of a result."""
