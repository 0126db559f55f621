@echo off
rem evalbatch nightly run for Windows Task Scheduler.
rem   run-nightly.cmd INPUT_FOLDER --out OUTPUT_FOLDER --year 2021 [other "evalbatch run" options]
rem Everything the run prints is appended to nightly.log beside this file; the full log of each
rem run is in OUTPUT_FOLDER\logs. The exit code is evalbatch's own (0-5, see README), which Task
rem Scheduler shows as "Last Run Result".
rem This file is ASCII on purpose: cmd.exe reads it in the OEM code page (936 on a Chinese
rem Windows). Chinese folder names belong in the task's arguments, which stay Unicode.
setlocal
rem UTF-8 for this script's own lines and for Python's output, whatever the system code page.
chcp 65001 >nul
set PYTHONUTF8=1
set PYTHONIOENCODING=utf-8:replace
cd /d "%~dp0"
set "LOG=%~dp0nightly.log"
echo ===== %DATE% %TIME% evalbatch run %* >> "%LOG%"
"%~dp0.venv\Scripts\evalbatch.exe" run %* >> "%LOG%" 2>&1
set CODE=%ERRORLEVEL%
echo ===== %DATE% %TIME% exit code %CODE% >> "%LOG%"
exit /b %CODE%
