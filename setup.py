"""Install the source folders (llm/, records/, synth/, ...) as `caravan.*` subpackages.

The repository keeps one folder per pipeline part; the installed distribution has a single
import name, `caravan`, so it never shadows the PyPI packages `llm`, `records` or `verifiers`.
"""

from setuptools import find_packages, setup

SUBPACKAGES = ("llm", "records", "synth", "prefs", "decontam", "verifiers", "train_adapters")

packages = ["caravan", *(f"caravan.{p}" for p in find_packages("caravan"))]
package_dir = {"caravan": "caravan"}
for name in SUBPACKAGES:
    packages.append(f"caravan.{name}")
    packages.extend(f"caravan.{name}.{p}" for p in find_packages(name))
    package_dir[f"caravan.{name}"] = name

setup(packages=packages, package_dir=package_dir)
