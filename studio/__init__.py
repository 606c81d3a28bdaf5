"""The studio's UI glue: checkpoint discovery, cached loaders, shared widgets (imports streamlit)."""
