"""Import hook that lets a CUDA-built torchvision wheel import on CPU-only torch.

Why: PyPI only carries CUDA builds of torchvision (e.g. 0.28.0+cu130). On torch X.Y+cpu its
C++ extension `_C.so` cannot load (it links libtorch_cuda.so), which torchvision tolerates
(`torchvision.extension._has_ops()` returns False), except that
`torchvision/_meta_registrations.py` calls `torch.library.register_fake("torchvision::nms")`
and `("torchvision::qnms")` unconditionally, and torch >= 2.13 raises
"operator torchvision::nms does not exist". Every other registration in that module is already
guarded by `_has_ops()`.

What: when (and only when) `torchvision._meta_registrations` is imported while the C++ ops are
missing, this finder supplies an empty module instead. Fake/meta kernels for ops that do not
exist have nothing to describe, so this changes nothing else. If the ops do load (a real CPU
build of torchvision), the finder steps aside and the real module is imported.
Pure-Python torchvision (transforms, InterpolationMode, ...) keeps working; the C++ ops
(nms, roi_align, ...) raise torchvision's usual "Couldn't load custom C++ ops" error.

Loaded by the one-line file `_torchvision_cpu_shim.pth` in site-packages; costs nothing until
torchvision is imported (it does not import torch itself).
"""
import importlib.abc
import importlib.machinery
import sys

_TARGET = "torchvision._meta_registrations"


class _EmptyModuleLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None  # default module creation

    def exec_module(self, module):
        module.__doc__ = "Emptied by _torchvision_cpu_shim: torchvision C++ ops are unavailable."


class _TorchvisionCpuShimFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        ext = sys.modules.get("torchvision.extension")
        if ext is None or ext._has_ops():
            return None  # real ops available (or unexpected order): import the real module
        return importlib.machinery.ModuleSpec(fullname, _EmptyModuleLoader(), origin="_torchvision_cpu_shim")


if not any(isinstance(f, _TorchvisionCpuShimFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _TorchvisionCpuShimFinder())
