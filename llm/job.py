"""Old home of `synth complete`'s job (now `caravan.synth.cli_complete`, a runner call).

Only the names prefs/ still imports from here remain, re-exported from their one home,
`caravan.secrets`; drop this module once prefs/ imports them from there."""

from caravan.secrets import public_argv, public_url

__all__ = ["public_argv", "public_url"]
