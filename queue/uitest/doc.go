// Package uitest tests the queue's dashboard (GET /ui/ of
// queue.NewHTTPHandlerWith) in a real browser, with chromedp driving a
// headless Chromium. It is a module of its own so that users of the
// library never download chromedp. It has no API; see its tests.
package uitest
