"""The kernel application and IPython shell a fork template builds once for all its kernels (private; see
``_forktemplate.py``, which loads this file by path: it needs nothing from this package).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
from typing import Any


def prebuild(kernel_config: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The kernel application, configured, and its IPython shell, built once for every child.

    What ``IPKernelApp.initialize`` does before it binds anything (parse the command line, find the
    profile folder, load the config files) and the shell the kernel would construct (traitlets
    set-up, magics, formatters, prefilters, completer: most of a kernel's start-up CPU) are the same
    for every kernel of this template (same interpreter, folder, environment); the child adopts them.
    The shell is not built when the configuration could give it another shape in a kernel (another
    kernel class, config nested under the kernel's section). Anything unexpected: nothing prebuilt,
    and each child initialises in full, as before. Returns ({"app", "shell"?}, None) or (None, error).
    """
    before = threading.active_count()
    try:
        from IPython.core.application import BaseIPythonApplication
        from IPython.core.interactiveshell import InteractiveShell
        from ipykernel.ipkernel import IPythonKernel
        from ipykernel.kernelapp import IPKernelApp
        from traitlets.config import Config
    except ImportError as exc:  # an ipykernel without these: children start in full
        return None, f"{type(exc).__name__}: {exc}"
    try:
        app = IPKernelApp.instance(config=Config(kernel_config))
        BaseIPythonApplication.initialize(app, [])  # the child's `-f CONNECTION_FILE` is set on it there
        if app.subapp is not None:
            raise RuntimeError("the kernel application has a subcommand")
        built: dict[str, Any] = {"app": app}
        # the session, whose set-up (traitlets, packers) is the same for every kernel; each child gives it its
        # own id, pid and key (_forktemplate._initialize_prebuilt). And what a kernel looks up once per process:
        # the machine's addresses (psutil, for the connection's default ip) and the temporary folder (tempfile
        # writes and deletes a file to find it; ipykernel names each cell's code after it)
        app.session  # noqa: B018 - built by its trait default
        from jupyter_client.localinterfaces import localhost

        localhost()
        tempfile.gettempdir()
        if app.kernel_class is IPythonKernel and not nested_sections(app.config):
            traits = IPythonKernel.class_traits()
            # as IPythonKernel.__init__ builds it, minus what only the child has (see adopt_shell)
            shell = built["shell"] = traits["shell_class"].default().instance(
                parent=app, profile_dir=app.profile_dir, user_module=None, user_ns=None, kernel=None,
                compiler_class=traits["compiler_class"].default())
            # what the first cell would build lazily: the formatters, the input transformers' regexes
            shell.display_formatter.format(0)
            shell.transform_cell("pass\n")
        if threading.active_count() != before:
            raise RuntimeError("building the kernel started a thread; forking after it is unsafe")
        return built, None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - (a config error exits) the template still forks kernels
        for singleton in (IPKernelApp, InteractiveShell):
            with contextlib.suppress(Exception):
                singleton.clear_instance()
        if threading.active_count() != before:
            raise RuntimeError("building the kernel started a thread; forking after it is unsafe") from exc
        return None, f"{type(exc).__name__}: {exc}"


def nested_sections(config: Any) -> bool:
    """Whether some config section holds another (``IPythonKernel.ZMQInteractiveShell.x = ...``): a shell
    built with the application as its parent would not see what one built under the kernel sees."""
    from traitlets.config import Config

    return any(isinstance(section, Config) and any(isinstance(value, Config) for value in section.values())
               for section in config.values())


def adopt_shell(shell: Any) -> None:
    """Make the kernel's ``shell_class.instance(...)`` return the template's shell, given what only the
    child has: the kernel (its parent and ``get_ipython().kernel``), this run's environment variables
    IPython sets (the child replaced ``os.environ``) and the kernel's stdout/stderr streams."""
    cls = type(shell)

    def instance(klass: type, *args: Any, **kwargs: Any) -> Any:
        del cls.instance  # once: the kernel asks exactly once; later calls get the singleton as usual
        expected = {"profile_dir": shell.profile_dir, "user_module": None, "user_ns": None,
                    "compiler_class": type(shell.compile)}
        if args or any(kwargs.get(key) is not value for key, value in expected.items()):
            cls.clear_instance()  # built for another shape of kernel: build the kernel's own
            return cls.instance(*args, **kwargs)
        shell.parent = kwargs.get("parent")
        shell.kernel = kwargs.get("kernel")
        shell.init_environment()
        shell._orig_sys_module_state.update(stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr,
                                            excepthook=sys.excepthook)
        return shell

    cls.instance = classmethod(instance)
