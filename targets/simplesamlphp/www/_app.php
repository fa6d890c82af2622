<?php
/**
 * Shared by the target app's pages (targets/simplesamlphp/www/): SimpleSAMLphp's autoloader,
 * the state folder (SSP_STATE, set by start.sh) and small JSON helpers. Not served itself
 * (start.sh links only the pages into the document root).
 */

require_once '/usr/share/simplesamlphp/lib/_autoload.php';

const APP_AUTH_SOURCE = 'default-sp';

function app_state(): string
{
    $state = getenv('SSP_STATE');
    if ($state === false || $state === '') {
        app_json(500, ['error' => 'misconfigured', 'reason' => 'SSP_STATE is not set']);
    }
    return $state;
}

/** The app's own URL (PUBLIC_URL of start.sh), without a trailing slash. */
function app_url(string $path = ''): string
{
    return rtrim((string) getenv('SSP_PUBLIC_URL'), '/') . $path;
}

/** The app settings the admin hooks change (app-settings.json in the state folder). */
function app_settings(): array
{
    $raw = @file_get_contents(app_state() . '/app-settings.json');
    $settings = $raw === false ? null : json_decode($raw, true);
    return is_array($settings) ? $settings : [];
}

/** @return never */
function app_json(int $status, array $body): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    header('Cache-Control: no-store');
    echo json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
    exit;
}
