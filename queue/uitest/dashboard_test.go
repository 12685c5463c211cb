package uitest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/memory"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/queue"
)

// progressSample is a task row's status and progress bar value (-1: none).
type progressSample struct {
	Status string  `json:"status"`
	Value  float64 `json:"value"`
}

// TestDashboard drives the dashboard in headless Chromium, mounted under a
// prefix, against a real worker: every change is made after the page
// loaded and must show without a reload.
func TestDashboard(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	ctx := context.Background()
	row := func(id string) string { return fmt.Sprintf(`document.querySelector('[data-task-id=%q]')`, id) }
	statusIs := func(id string, s queue.State) string {
		return fmt.Sprintf(`%s?.querySelector('.status-cell [data-status]')?.dataset.status === %q`, row(id), s)
	}

	b.do(t, "load the dashboard", chromedp.Navigate(f.url(prefix+"/ui/#/tasks")))
	b.waitJS(t, "the task list", `document.querySelector('main h2')?.textContent === 'Tasks'`)

	t.Run("a task enqueued later appears, shows moving progress and ends SUCCESS", func(t *testing.T) {
		task, err := f.client.Enqueue(ctx, taskSteps, nil)
		require.NoError(t, err)
		b.waitJS(t, "the new task's row", row(task.ID)+` !== null`)
		seen := map[float64]bool{}
		deadline := time.Now().Add(15 * time.Second)
		for {
			s := eval[progressSample](t, b, fmt.Sprintf(`(() => { const r = %s; const p = r?.querySelector('progress[value]');
				return {status: r?.querySelector('[data-status]')?.dataset.status ?? '', value: p ? p.value : -1}; })()`, row(task.ID)))
			if s.Value >= 0 {
				seen[s.Value] = true
			}
			if s.Status == string(queue.StateSuccess) {
				break
			}
			require.True(t, time.Now().Before(deadline), "task still %q in the page; progress seen %v", s.Status, seen)
			time.Sleep(20 * time.Millisecond)
		}
		assert.GreaterOrEqual(t, len(seen), 3, "distinct progress values shown while it ran: %v", seen)
		got, err := f.client.Get(ctx, task.ID)
		require.NoError(t, err)
		assert.Equal(t, queue.StateSuccess, got.State)
	})

	t.Run("cancel from the page revokes a running task", func(t *testing.T) {
		task, err := f.client.Enqueue(ctx, taskBlock, nil)
		require.NoError(t, err)
		b.waitJS(t, "the task running in the page", statusIs(task.ID, queue.StateStarted)+" || "+statusIs(task.ID, queue.StateProcessing))
		b.click(t, "press Cancel", fmt.Sprintf(`[data-task-id=%q] button[data-action="cancel"]`, task.ID))
		b.waitJS(t, "REVOKED in the page", statusIs(task.ID, queue.StateRevoked))
		got, err := f.client.Get(ctx, task.ID)
		require.NoError(t, err)
		assert.Equal(t, queue.StateRevoked, got.State)
		assert.Equal(t, int32(1), f.revoked.Load(), "handlers whose context ended with ErrRevoked")
		b.screenshot(t, "dashboard-tasks.png")
	})

	t.Run("replay a dead letter from the page and the new task succeeds", func(t *testing.T) {
		require.NoError(t, f.store.Push(ctx, dlq.Entry{TaskID: "dead-1", TaskName: taskGreet, Queue: queue.DefaultQueue,
			Payload: []byte(`{"who": "Ada"}`), Error: "upstream 503", Trace: "goroutine 7 [running]:\nmain.greet()", FailedAt: time.Now(), Retries: 3}))
		b.do(t, "open the dead letters", chromedp.Navigate(f.url(prefix+"/ui/#/dead")))
		b.waitJS(t, "the dead letter", `document.querySelector('[data-dead-id="dead-1"]') !== null`)
		b.click(t, "press Replay", `[data-dead-id="dead-1"] button[data-action="replay"]`)
		b.waitJS(t, "the dead letter gone from the page", `document.querySelector('[data-dead-id="dead-1"]') === null`)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, err := f.client.Wait(wctx, "dead-1-replay-1")
		require.NoError(t, err)
		assert.Equal(t, queue.StateSuccess, got.State)
	})

	t.Run("delete a dead letter from the page, with a second press to confirm", func(t *testing.T) {
		require.NoError(t, f.store.Push(ctx, dlq.Entry{TaskID: "dead-del", TaskName: taskGreet, Queue: queue.DefaultQueue, Error: "bad input", FailedAt: time.Now()}))
		del := `[data-dead-id="dead-del"] button[data-action="delete"]`
		b.waitJS(t, "the new dead letter, without a reload", fmt.Sprintf(`document.querySelector(%q) !== null`, del))
		b.screenshot(t, "dashboard-dead-letters.png")
		b.click(t, "press Delete", del)
		b.waitJS(t, "asked to confirm", fmt.Sprintf(`document.querySelector(%q)?.textContent === 'Delete for good?'`, del))
		_, err := f.store.Get(ctx, "dead-del")
		require.NoError(t, err, "one press deletes nothing")
		b.click(t, "press Delete again", del)
		b.waitJS(t, "the dead letter gone from the page", `document.querySelector('[data-dead-id="dead-del"]') === null`)
		_, err = f.store.Get(ctx, "dead-del")
		assert.ErrorIs(t, err, dlq.ErrNotFound)
	})

	t.Run("pause from the page stops workers taking the queue's tasks", func(t *testing.T) {
		b.do(t, "open the overview", chromedp.Navigate(f.url(prefix+"/ui/#/")))
		pause := `tr[data-queue="low"] button[data-action="pause"]`
		b.waitJS(t, "the low queue's Pause button", fmt.Sprintf(`document.querySelector(%q) !== null`, pause))
		b.click(t, "press Pause", pause)
		b.waitJS(t, "the queue shown paused", `document.querySelector('tr[data-queue="low"] .paused') !== null`)
		b.screenshot(t, "dashboard-overview.png")

		task, err := f.client.Enqueue(ctx, taskGreet, nil, queue.WithQueue(queue.QueueLow))
		require.NoError(t, err)
		control, err := f.client.Enqueue(ctx, taskGreet, nil, queue.WithQueue(queue.QueueHigh))
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = f.client.Wait(wctx, control.ID)
		require.NoError(t, err, "a task of another queue still runs")
		time.Sleep(300 * time.Millisecond) // the worker is idle and polls nothing: a claim would be immediate
		got, err := f.client.Get(ctx, task.ID)
		require.NoError(t, err)
		assert.Equal(t, queue.StatePending, got.State, "a task of the paused queue")

		b.click(t, "press Resume", `tr[data-queue="low"] button[data-action="resume"]`)
		got, err = f.client.Wait(wctx, task.ID)
		require.NoError(t, err)
		assert.Equal(t, queue.StateSuccess, got.State, "after Resume")
	})

	t.Run("read-only: no buttons, and a forged request is refused", func(t *testing.T) {
		_, err := f.client.Enqueue(ctx, taskGreet, nil, queue.WithQueue(queue.QueueLow), queue.WithDelay(time.Hour))
		require.NoError(t, err)
		require.NoError(t, f.store.Push(ctx, dlq.Entry{TaskID: "dead-2", TaskName: taskGreet, Queue: queue.DefaultQueue, Error: "boom", FailedAt: time.Now()}))
		for _, page := range []struct{ hash, ready string }{
			{"#/", `document.querySelector('tr[data-queue="low"]') !== null`},
			{"#/tasks", `document.querySelector('[data-task-id]') !== null`},
			{"#/dead", `document.querySelector('[data-dead-id="dead-2"]') !== null`},
		} {
			b.do(t, "open "+page.hash, chromedp.Navigate(f.url(roPrefix+"/ui/"+page.hash)))
			b.waitJS(t, page.hash+" rendered", page.ready)
			buttons := eval[int](t, b, `document.querySelectorAll('main button').length`)
			assert.Zero(t, buttons, "buttons on %s in read-only mode", page.hash)
		}
		for _, req := range []struct{ method, path string }{
			{http.MethodPost, "/queues/default/pause"},
			{http.MethodPost, "/dead-letters/dead-2/replay"},
			{http.MethodDelete, "/dead-letters/dead-2"},
			{http.MethodPost, "/tasks/greet"},
		} {
			r, err := http.NewRequest(req.method, f.url(roPrefix+req.path), strings.NewReader(`{}`))
			require.NoError(t, err)
			r.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(r)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s %s", req.method, req.path)
		}
	})

	t.Run("a screenshot of the task list with a task running", func(t *testing.T) {
		task, err := f.client.Enqueue(ctx, taskSteps, map[string]any{"documents": 10})
		require.NoError(t, err)
		b.do(t, "open the task list in a window cut to it",
			chromedp.EmulateViewport(1100, 420), chromedp.Navigate(f.url(prefix+"/ui/#/tasks")))
		b.waitJS(t, "its progress at 3 or more", row(task.ID)+`?.querySelector('progress[value]')?.value >= 3`)
		b.screenshot(t, "dashboard.png")

		b.click(t, "open the task", fmt.Sprintf(`a[href="#/task/%s"]`, task.ID))
		b.waitJS(t, "its payload", `document.querySelector('pre.payload')?.textContent.includes('"documents": 10')`)
		b.waitJS(t, "its result once done, without a reload", `document.querySelector('pre.result')?.textContent === '"done"'`)
		text := eval[string](t, b, `document.querySelector('main').innerText`)
		for _, want := range []string{"Redeliveries", "Retries", "Enqueued", "Started", "Finished", "SUCCESS", "10/10 embedding"} {
			assert.Contains(t, text, want, "the task's page")
		}
		b.screenshot(t, "dashboard-task.png")
	})

	t.Run("a page open for long holds steady: no growing DOM, listeners or heap", func(t *testing.T) {
		// Every page visit is a full load and render: 4 pages x 40 rounds
		// are as many renders as four minutes of polling in which the data
		// changed every time.
		cycle := func(rounds int) {
			t.Helper()
			ctx, cancel := context.WithTimeout(b.ctx, 40*time.Second)
			defer cancel()
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(async () => {
				const pages = [['#/', 'Queues'], ['#/tasks', 'Tasks'], ['#/dead', 'Dead letters'], ['#/tasks?state=SUCCESS', 'Tasks']];
				const shown = (title) => new Promise((ok) => { const check = () => {
					const h2 = document.querySelector('main h2');
					if (h2 && h2.textContent.startsWith(title) && h2.dataset.seen !== 'yes') { h2.dataset.seen = 'yes'; ok(); }
					else requestAnimationFrame(check); }; check(); });
				for (let i = 0; i < %d; i++) for (const [hash, title] of pages) { location.hash = hash; await shown(title); }
				return true; })()`, rounds), chromedp.EvalAwaitPromise))
			require.NoError(t, err)
		}
		measure := func() (memory.GetDOMCountersResult, float64) {
			t.Helper()
			var dom memory.GetDOMCountersResult
			var heap runtime.GetHeapUsageResult
			b.do(t, "collect garbage and count", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
				if _, err := cdp.Call(ctx, tg, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
					return chromedp.Void{}, err
				}
				var err error
				if dom, err = cdp.Call(ctx, tg, memory.GetDOMCounters, cdp.Empty{}); err != nil {
					return chromedp.Void{}, err
				}
				heap, err = cdp.Call(ctx, tg, runtime.GetHeapUsage, cdp.Empty{})
				return chromedp.Void{}, err
			})
			return dom, heap.UsedSize
		}
		b.do(t, "open the overview", chromedp.Navigate(f.url(prefix+"/ui/#/")))
		b.waitJS(t, "the overview", `document.querySelector('tr[data-queue="low"]') !== null`)
		cycle(10) // warm up: code compiled, caches filled
		domBefore, heapBefore := measure()
		cycle(40)
		domAfter, heapAfter := measure()
		t.Logf("after 10 rounds: %+v, heap %.0f KB; after 50: %+v, heap %.0f KB", domBefore, heapBefore/1024, domAfter, heapAfter/1024)
		assert.LessOrEqual(t, domAfter.Nodes, domBefore.Nodes*11/10+50, "DOM nodes")
		assert.LessOrEqual(t, domAfter.JsEventListeners, domBefore.JsEventListeners+5, "event listeners")
		assert.Less(t, heapAfter, heapBefore*1.5, "JavaScript heap after 5x the renders")
	})

	t.Run("a task name that fails for good shows alerted on the overview", func(t *testing.T) {
		b.do(t, "open the overview", chromedp.Navigate(f.url(prefix+"/ui/#/")))
		b.waitJS(t, "no failures yet", `document.getElementById('no-alerts') !== null`)
		// Neither name has a handler: each task fails for good at once.
		var ids []string
		for _, name := range []string{"summarize", "summarize", "translate"} {
			task, err := f.client.Enqueue(ctx, name, nil)
			require.NoError(t, err)
			ids = append(ids, task.ID)
		}
		alertRow := func(name string) string { return fmt.Sprintf(`document.querySelector('tr[data-alert-name=%q]')`, name) }
		b.waitJS(t, "summarize alerted, without a reload", alertRow("summarize")+`?.querySelector('[data-alerted="true"]') != null`)
		b.waitJS(t, "translate below its threshold", alertRow("translate")+`?.querySelector('[data-alerted="false"]') != null`)
		cells := eval[[]string](t, b, fmt.Sprintf(`[...%s.cells].map((c) => c.textContent)`, alertRow("summarize")))
		require.GreaterOrEqual(t, len(cells), 5, "cells of the summarize row: %q", cells)
		assert.Equal(t, []string{"summarize", "alerted", "2", fmt.Sprint(alertThreshold), "1h0m0s"}, cells[:5],
			"task name, badge, failures in the window, threshold, window")
		first := eval[string](t, b, `document.querySelector('tr[data-alert-name]').dataset.alertName`)
		assert.Equal(t, "summarize", first, "alerted names first")
		assert.GreaterOrEqual(t, eval[float64](t, b, badgeContrast), 4.5, "contrast of the alerted badge in light mode")
		b.screenshot(t, "dashboard-alerts.png")
		// The entries go; the counts of the window stay (the later tests
		// count the dead letters).
		for _, id := range ids {
			require.NoError(t, f.store.Delete(ctx, id))
		}
	})

	t.Run("phone width and dark mode", func(t *testing.T) {
		b.do(t, "a phone screen in dark mode",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			darkMode, chromedp.Navigate(f.url(prefix+"/ui/#/")))
		b.waitJS(t, "the overview", `document.querySelector('tr[data-queue="low"]') !== null`)
		overflow := eval[int](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
		assert.LessOrEqual(t, overflow, 0, "the page scrolls sideways on a phone (tables scroll in their own box)")
		bg := eval[string](t, b, `getComputedStyle(document.body).backgroundColor`)
		assert.NotEqual(t, "rgb(255, 255, 255)", bg, "dark mode background")
		b.waitJS(t, "the alerted task name", `document.querySelector('.alert-badge') !== null`)
		assert.GreaterOrEqual(t, eval[float64](t, b, badgeContrast), 4.5, "contrast of the alerted badge in dark mode")
		b.screenshot(t, "dashboard-phone-dark.png")
	})

	require.Empty(t, b.consoleErrors(), "errors in the browser console")

	// Failed requests show in the console from here on.

	t.Run("a broker without statistics: the page says so and dead letters still work", func(t *testing.T) {
		b.do(t, "open the overview", chromedp.Navigate(f.url(plainPrefix+"/ui/#/")))
		b.waitJS(t, "the reason", `document.querySelector('main').innerText.includes('not supported by this broker')`)
		b.waitJS(t, "the dead-letter count", `document.getElementById('dead-count').textContent === '(1)'`)
		b.do(t, "open the dead letters", chromedp.Navigate(f.url(plainPrefix+"/ui/#/dead")))
		b.waitJS(t, "the dead letter", `document.querySelector('[data-dead-id="dead-2"]') !== null`)
		b.do(t, "open the tasks", chromedp.Navigate(f.url(plainPrefix+"/ui/#/tasks")))
		b.waitJS(t, "the reason", `document.querySelector('main').innerText.includes('not supported by this broker')`)
	})

	t.Run("the page reconnects after the server restarts", func(t *testing.T) {
		b.do(t, "open the task list", chromedp.Navigate(f.url(prefix+"/ui/#/tasks")))
		b.waitJS(t, "live", `document.getElementById('conn').textContent === 'live'`)
		f.stopServer()
		b.waitJS(t, "shown disconnected", `document.getElementById('conn').classList.contains('down')`)
		f.restartServer(t)
		task, err := f.client.Enqueue(ctx, taskGreet, nil)
		require.NoError(t, err)
		b.waitJS(t, "live again", `document.getElementById('conn').textContent === 'live'`)
		b.waitJS(t, "a task enqueued while it was down", row(task.ID)+` !== null`)
		for _, msg := range b.consoleErrors() {
			if !strings.Contains(msg, "501") {
				assert.Contains(t, msg, "net::ERR_", "only failed connections while the server was down")
			}
		}
	})
}

// badgeContrast evaluates to the WCAG contrast ratio of the first alerted
// badge's text against its background (4.5 is the minimum for small text).
const badgeContrast = `(() => {
	const cs = getComputedStyle(document.querySelector('.alert-badge'));
	const rgb = (s) => s.match(/[\d.]+/g).slice(0, 3).map(Number);
	const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
	const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
	const a = lum(rgb(cs.color)), b = lum(rgb(cs.backgroundColor));
	return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})()`
