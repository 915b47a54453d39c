"""Builds the firmware's Cython DSP kernels (firmware/dsp/_*.pyx) with portable flags.

The box may be ARM, so nothing here targets the build machine (no -march=native). Python's own
CFLAGS carry -fwrapv, which stops GCC from vectorising loops with signed int counters; -fno-wrapv
after it restores that. A kernel that needs more (e.g. float reassociation for a vectorised dot
product) says so in its own ``# distutils: extra_compile_args`` header line.

While developing, ``DSP_MODULES=_dtmf,_g711 python setup.py build_ext --inplace`` builds a subset.
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

KERNEL_DIR = Path("firmware") / "dsp"
PORTABLE_FLAGS = ["-O3", "-fno-wrapv", "-fno-semantic-interposition"]
CYTHON_DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
}


def kernel_extensions() -> list[Extension]:
    wanted = {m for m in os.environ.get("DSP_MODULES", "").split(",") if m}
    sources = sorted(KERNEL_DIR.glob("_*.pyx"))
    return [
        Extension(
            f"firmware.dsp.{pyx.stem}",
            [str(pyx)],
            include_dirs=[numpy.get_include(), str(KERNEL_DIR)],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=PORTABLE_FLAGS,
        )
        for pyx in sources
        if not wanted or pyx.stem in wanted
    ]


setup(
    name="callbox-firmware",
    version="0.1.0",
    description="Firmware of an all-in-one call box: DSP core, switch, line cards, web admin",
    python_requires=">=3.11",
    packages=find_packages(include=["firmware", "firmware.*"]),
    package_data={"firmware.dsp": ["*.pyi", "*.pxd", "_*.h", "py.typed"]},
    ext_modules=cythonize(kernel_extensions(), compiler_directives=CYTHON_DIRECTIVES),
    install_requires=[
        "numpy>=1.26",
        "pjsua2-python>=2.15",   # the PyPI package named 'pjsua2' is a broken source tarball
        "pyalsaaudio>=0.10",     # builds against Debian's libasound2-dev
        "pyudev>=0.24",
        "supervisor>=4.2",
    ],
    entry_points={"console_scripts": ["callbox = firmware.switch.cli:main"]},
    zip_safe=False,
)
