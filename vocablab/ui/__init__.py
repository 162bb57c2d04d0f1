"""The Gradio web app: one module per tab, each a thin shell over a library function."""
