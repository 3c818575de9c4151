"""One file per family, named as the literature names it.

Importing this package imports every module in it, and each module's
``@register_model`` builders enter the registry. A new family is a new file;
nothing here needs editing.
"""

import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")
