"""Pages of the livedocs web app (Streamlit); the entry script is ``apps/livedocs_app.py``."""
