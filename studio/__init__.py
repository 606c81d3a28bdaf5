"""The studio's UI glue: checkpoint discovery, cached loaders, shared widgets (only the studio imports streamlit)."""
