"""Look at your data: tables and plots behind the notebooks, `prefs stats --plot` and
`decontam check --html`.

One module per stage (`synthesis`, `preferences`, `contamination`, `rewards`, `overview`);
`data.read` is the single place notebooks load files through, and `figures.pyplot` the
single place matplotlib is imported (headless Agg backend, optional `inspect` extra).
"""

from caravan.inspect.data import env_param, read, read_rows
from caravan.inspect.figures import pyplot, save_png, show

__all__ = ["env_param", "pyplot", "read", "read_rows", "save_png", "show"]
