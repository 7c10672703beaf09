// Package version reports which extmetrics build is running, for
// `extmetrics version`, the devserver's /version and User-Agent headers.
package version
