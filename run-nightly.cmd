@echo off
rem evalbatch nightly run for Windows Task Scheduler (deploy\evalbatch-nightly.xml imports a task).
rem   run-nightly.cmd INPUT_FOLDER --out OUTPUT_FOLDER [other "evalbatch run" options]
rem (no --year: each year the run evaluates the year before.)
rem Each run writes what it prints to its own file, logs\nightly-YYYYMMDD-HHMMSS-XXXXXXXX.log
rem beside this file: two starts at the same moment never wait for one log file (cmd holds a
rem ">>" file open while the command runs). Files older than 90 days there are deleted. The
rem full log of each run is in OUTPUT_FOLDER\logs. The exit code is evalbatch's own (0-7, see
rem README), which Task Scheduler shows as "Last Run Result".
rem This file is ASCII on purpose: cmd.exe reads it in the OEM code page (936 on a Chinese
rem Windows). Chinese folder names belong in the task's arguments, which stay Unicode.
setlocal
rem UTF-8 for this script's own lines and for Python's output, whatever the system code page.
chcp 65001 >nul
set PYTHONUTF8=1
set PYTHONIOENCODING=utf-8:replace
cd /d "%~dp0"
if not exist "%~dp0logs" mkdir "%~dp0logs"
rem A sortable stamp and a unique part whatever the regional date format (%DATE% is not
rem sortable, and %RANDOM% is the same in two cmd.exe started in the same second).
set "STAMP="
for /f "usebackq delims=" %%t in (`powershell -NoProfile -NonInteractive -Command "(Get-Date -Format yyyyMMdd-HHmmss) + '-' + [guid]::NewGuid().ToString('N').Substring(0, 8)"`) do set "STAMP=%%t"
if not defined STAMP set "STAMP=%RANDOM%-%RANDOM%-%RANDOM%"
set "LOG=%~dp0logs\nightly-%STAMP%.log"
forfiles /p "%~dp0logs" /m nightly-*.log /d -90 /c "cmd /c del @path" >nul 2>&1
echo ===== %DATE% %TIME% evalbatch run %* > "%LOG%"
"%~dp0.venv\Scripts\evalbatch.exe" run %* >> "%LOG%" 2>&1
set CODE=%ERRORLEVEL%
echo ===== %DATE% %TIME% exit code %CODE% >> "%LOG%"
exit /b %CODE%
