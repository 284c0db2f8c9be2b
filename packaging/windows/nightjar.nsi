; Nightjar's Windows installer (NSIS 3, built with Debian's makensis by
; scripts/check-windows.sh):
;
;   makensis -DVERSION=0.1.0 -DSRCDIR=<folder with the .exe files> \
;            -DOUTFILE=<setup.exe> [-DNOCOMPRESS] packaging/windows/nightjar.nsi
;
; Per user: no administrator rights, installed into
; %LOCALAPPDATA%\Programs\Nightjar, a Start-menu entry, "Start at login"
; (the same Run value the app's own setting writes), and an uninstaller
; registered in Add/Remove Programs. The uninstaller removes the programs,
; the shortcut and the Run value only: the config, the history, the logs
; (%APPDATA%\Nightjar) and the backups stay.
;
; Silent: setup.exe /S (all sections), uninstall.exe /S.

; A 64-bit installer for 64-bit programs (it also runs where there is no
; 32-bit Windows-on-Windows, like Debian's 64-bit-only Wine).
Target amd64-unicode
; -DNOCOMPRESS: a quick build for tests (LZMA takes minutes on debug builds).
!ifdef NOCOMPRESS
  SetCompress off
!else
  SetCompressor /SOLID lzma
!endif

!ifndef VERSION
  !error "Pass -DVERSION=<workspace version>"
!endif
!ifndef SRCDIR
  !error "Pass -DSRCDIR=<folder holding nightjar.exe, nightjar-tray.exe, nightjar-desktop.exe, WebView2Loader.dll>"
!endif
!ifndef OUTFILE
  !define OUTFILE "nightjar-setup-${VERSION}.exe"
!endif

!define PRODUCT "Nightjar"
; The value name tauri-plugin-autostart uses (the productName in
; tauri.conf.json), so the app's "Start at login" switch sees and changes
; what the installer wrote.
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define APPROVED_KEY "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Nightjar"
; The tray process shows its toasts under this AppUserModelID
; (crates/tray/src/notify.rs); Windows shows them only for an ID that a
; Start-menu shortcut carries.
!define AUMID "app.nightjar.desktop"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\Nightjar"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
RequestExecutionLevel user
ShowInstDetails show
ShowUninstDetails show

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "LegalCopyright" "Nightjar developers (MIT OR Apache-2.0)"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!define MUI_ICON "..\..\icons\icon.ico"
!define MUI_UNICON "..\..\icons\icon.ico"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\nightjar-desktop.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Open Nightjar"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  SetShellVarContext current
FunctionEnd

Function un.onInit
  SetShellVarContext current
FunctionEnd

; Sets System.AppUserModel.ID on the shortcut $0 to ${AUMID}: IShellLinkW
; loaded through IPersistFile, its IPropertyStore set, committed and saved
; (COM through the System plug-in; vtable slots as in the SDK headers).
Function SetShortcutAppId
  Push $1
  Push $2
  Push $3
  Push $4
  Push $5
  Push $6
  System::Call 'ole32::CoInitialize(p 0)'
  System::Call 'ole32::CoCreateInstance(g "{00021401-0000-0000-C000-000000000046}", p 0, i 1, g "{000214F9-0000-0000-C000-000000000046}", *p .r1) i .r2'
  ${If} $2 = 0
    System::Call '$1->0(g "{0000010b-0000-0000-C000-000000000046}", *p .r3) i .r2'
    ${If} $2 = 0
      System::Call '$3->5(w r0, i 2) i .r2' ; IPersistFile::Load(path, STGM_READWRITE)
      ${If} $2 = 0
        System::Call '$1->0(g "{886D8EEB-8CF2-4446-8D02-CDBA1DBDCF99}", *p .r4) i .r2'
        ${If} $2 = 0
          ; PROPERTYKEY PKEY_AppUserModel_ID, PROPVARIANT VT_LPWSTR (31)
          System::Call '*(g "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}", i 5) p .r5'
          System::Call '*(&w${NSIS_MAX_STRLEN} "${AUMID}") p .r0'
          System::Call '*(&i2 31, &i2 0, &i4 0, p r0, p 0) p .r6'
          System::Call '$4->6(p r5, p r6) i .r2' ; IPropertyStore::SetValue
          ${If} $2 = 0
            System::Call '$4->7() i .r2' ; IPropertyStore::Commit
          ${EndIf}
          ${If} $2 = 0
            System::Call '$3->6(p 0, i 1) i .r2' ; IPersistFile::Save(NULL, TRUE)
          ${EndIf}
          System::Free $5
          System::Free $0
          System::Free $6
          System::Call '$4->2()'
        ${EndIf}
      ${EndIf}
      System::Call '$3->2()'
    ${EndIf}
    System::Call '$1->2()'
  ${EndIf}
  ${If} $2 <> 0
    DetailPrint "The Start-menu shortcut has no AppUserModelID (error $2): notifications may not show."
  ${EndIf}
  System::Call 'ole32::CoUninitialize()'
  Pop $6
  Pop $5
  Pop $4
  Pop $3
  Pop $2
  Pop $1
FunctionEnd

; A running tray process holds its .exe open: ask it to quit first (it
; finishes or cancels a running backup cleanly). Nothing runs: it says so.
!macro QuitTray
  IfFileExists "$INSTDIR\nightjar-tray.exe" 0 +2
    ExecWait '"$INSTDIR\nightjar-tray.exe" --quit'
!macroend

Section "Nightjar (required)" SecMain
  SectionIn RO
  !insertmacro QuitTray
  SetOutPath "$INSTDIR"
  File "${SRCDIR}\nightjar.exe"
  File "${SRCDIR}\nightjar-tray.exe"
  File "${SRCDIR}\nightjar-desktop.exe"
  File "${SRCDIR}\WebView2Loader.dll"
  File "/oname=nightjar.ico" "..\..\icons\icon.ico"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\Nightjar.lnk" "$INSTDIR\nightjar-desktop.exe" "" "$INSTDIR\nightjar.ico" 0
  StrCpy $0 "$SMPROGRAMS\Nightjar.lnk"
  Call SetShortcutAppId

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "Nightjar developers"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\nightjar.ico"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Start Nightjar at login" SecAutostart
  ; What the app's own switch writes: the window program with --hidden,
  ; which starts the tray process and no window.
  WriteRegStr HKCU "${RUN_KEY}" "${PRODUCT}" '"$INSTDIR\nightjar-desktop.exe" --hidden'
SectionEnd

LangString DESC_SecMain ${LANG_ENGLISH} "The Nightjar window, its tray process and the nightjar command line."
LangString DESC_SecAutostart ${LANG_ENGLISH} "Start the tray process (the schedules) when you log in; change it later in Settings."
!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecMain} $(DESC_SecMain)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAutostart} $(DESC_SecAutostart)
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Section "Uninstall"
  !insertmacro QuitTray
  ; Only what the installer put here: never the config, the history or the
  ; backups, which live elsewhere.
  Delete "$INSTDIR\nightjar.exe"
  Delete "$INSTDIR\nightjar-tray.exe"
  Delete "$INSTDIR\nightjar-desktop.exe"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\nightjar.ico"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\Nightjar.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${PRODUCT}"
  DeleteRegValue HKCU "${APPROVED_KEY}" "${PRODUCT}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
