@echo off
REM Run the whole test suite: run_tests.bat [pytest options, e.g. -k streaming -x]
REM Creates .venv and installs the package with its dev tools when needed, then runs
REM ruff (lint and format check), mypy and pytest. Exits non-zero on the first failure.
setlocal EnableExtensions DisableDelayedExpansion
cd /d "%~dp0"

set "VENV=.venv"
set "VPY=.venv\Scripts\python.exe"

if exist "%VPY%" goto have_venv
set "PY="
if defined PYTHON call :try_python "%PYTHON%"
if not defined PY call :try_python py -3
if not defined PY call :try_python python
if not defined PY call :try_python python3
if not defined PY (
    echo error: Python 3.11 or newer is required but was not found. 1>&2
    echo        Install it from https://www.python.org/downloads/ ^(tick "Add python.exe to PATH"^), 1>&2
    echo        or set PYTHON=C:\path\to\python.exe and rerun. 1>&2
    exit /b 1
)
echo Creating %VENV% with %PY%...
%PY% -m venv "%VENV%"
if errorlevel 1 (
    echo error: could not create %VENV%. 1>&2
    exit /b 1
)

:have_venv
"%VPY%" -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
if errorlevel 1 (
    echo error: %VENV% uses a Python older than 3.11. Delete %VENV% and rerun this script. 1>&2
    exit /b 1
)

if not exist "%VENV%\Scripts\pytest.exe" goto install
"%VPY%" -c "import hashlib, pathlib, sys; s = pathlib.Path(sys.argv[1]); h = hashlib.sha256(pathlib.Path('pyproject.toml').read_bytes()).hexdigest(); sys.exit(0 if s.exists() and s.read_text().strip() == h else 1)" "%VENV%\.install-stamp-dev"
if errorlevel 1 goto install
goto installed
:install
echo Installing claude-code-provider-proxy with dev tools into %VENV%...
"%VPY%" -m pip install --disable-pip-version-check -q -e ".[dev]"
if errorlevel 1 exit /b 1
"%VPY%" -c "import hashlib, pathlib, sys; h = hashlib.sha256(pathlib.Path('pyproject.toml').read_bytes()).hexdigest(); [pathlib.Path(p).write_text(h + chr(10)) for p in sys.argv[1:]]" "%VENV%\.install-stamp-dev" "%VENV%\.install-stamp"
:installed

echo.
echo ==^> ruff check src tests
"%VPY%" -m ruff check src tests
if errorlevel 1 exit /b 1

echo.
echo ==^> ruff format --check src tests
"%VPY%" -m ruff format --check src tests
if errorlevel 1 exit /b 1

echo.
echo ==^> mypy
"%VPY%" -m mypy
if errorlevel 1 exit /b 1

echo.
echo ==^> pytest %*
"%VPY%" -m pytest %*
set "RC=%ERRORLEVEL%"
if "%RC%"=="5" (
    echo error: pytest collected no tests ^(exit code 5^); that counts as a failure. 1>&2
    exit /b 5
)
if not "%RC%"=="0" exit /b %RC%

echo.
echo All checks passed.
exit /b 0

:try_python
%* -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" >nul 2>&1
if not errorlevel 1 set "PY=%*"
exit /b 0
