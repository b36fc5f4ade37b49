"""The one place every model call goes through."""
