/*
 * Calipso's live pages: the wall board (/board) and the dispatcher's list (/departures).
 *
 * htmx and its ws extension do the swapping: every HTML message from /ws/board replaces,
 * inserts or deletes rows out of band, or replaces the whole board (a snapshot). This script
 * adds what a wall screen needs to never be silently stale:
 *
 *   - a clock, and "updated N s ago" since the last message (a change or a heartbeat);
 *   - a banner and a dimmed table when the socket is closed, or when nothing has arrived for
 *     twice the heartbeat interval; then a reconnect (with backoff), and the banner clears
 *     when the fresh snapshot arrives;
 *   - a reload when the server's build changes, or when a screen's link was revoked;
 *   - pages of N rows rotating every M seconds, with "page 2/3";
 *   - a highlight on every row that changes.
 *
 * It runs under the Content-Security-Policy script-src 'self': no inline code, no eval. JSON
 * messages (heartbeats and commands) are taken off htmx's hands; HTML goes to htmx.
 */
(function () {
  'use strict';

  var HIGHLIGHT_MS = 5000;
  var IDENTIFY_MS = 15000;
  var REVOKED_RELOAD_MS = 10000;
  var PROBE_EVERY_CLOSES = 3;

  // Reconnect after 0.5–1 s, then twice as long each time, up to 7.5–15 s: a wall of screens
  // coming back together does not hammer a server that just restarted.
  htmx.config.wsReconnectDelay = function (retry) {
    var base = Math.min(1000 * Math.pow(2, retry), 15000);
    return base / 2 + Math.random() * base / 2;
  };

  // The socket htmx opened last: a close event of an older one is no news.
  var currentSocket = null;
  var makeSocket = htmx.createWebSocket;
  htmx.createWebSocket = function (url) {
    currentSocket = makeSocket ? makeSocket(url) : new WebSocket(url);
    return currentSocket;
  };

  var board = null; // state of the wall board, when this page is one
  var list = null; // state of the dispatcher's live list, when this page has one

  function text(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : m;
    });
  }

  // ---- row highlight -----------------------------------------------------------------

  // watchRows flashes every row added to tbody (a replaced row is a new element too), and
  // calls after() once per batch of changes.
  function watchRows(tbody, after) {
    var observer = new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.nodeType === 1 && n.tagName === 'TR') {
            n.classList.add('board-row-updated');
            setTimeout(function () { n.classList.remove('board-row-updated'); }, HIGHLIGHT_MS);
          }
        });
      });
      after();
    });
    observer.observe(tbody, { childList: true });
    return observer;
  }

  // ---- the wall board ------------------------------------------------------------------

  function Board(body) {
    this.body = body;
    this.banner = document.getElementById('board-banner');
    this.identify = document.getElementById('board-identify');
    this.live = null; // the current #board-live (a snapshot replaces it)
    this.pageBuild = null; // the build this page's script and styles came from
    this.serverOffset = 0; // server clock minus ours, in ms
    this.lastMessage = Date.now();
    this.closed = false;
    this.revoked = false;
    this.closes = 0;
    this.lastForced = 0;
    this.page = 0;
    this.pageTurned = Date.now();
    this.observer = null;
    this.wrapper = null;
    this.adopt(document.getElementById('board-live'), false);
    var self = this;
    setInterval(function () { self.tick(); }, 1000);
    this.tick();
  }

  // adopt takes a (new) #board-live: its settings, its texts, its rows.
  Board.prototype.adopt = function (live, fromSnapshot) {
    this.live = live;
    var d = live.dataset;
    if (this.pageBuild === null) {
      this.pageBuild = d.build;
    } else if (d.build !== this.pageBuild) {
      this.reloadSoon();
    }
    this.heartbeat = parseInt(d.heartbeatMs, 10) || 10000;
    this.pageSize = Math.max(1, parseInt(d.pageSize, 10) || 12);
    this.rotate = Math.max(1000, parseInt(d.rotateMs, 10) || 10000);
    this.texts = { updated: d.textUpdated, stale: d.textStale, page: d.textPage, revoked: d.textRevoked, screen: d.textScreen };
    var serverTime = parseInt(d.serverTime, 10);
    if (serverTime && !fromSnapshot) {
      this.serverOffset = serverTime - Date.now();
    }
    var lang = d.lang || 'en';
    var tz = d.timeZone;
    try {
      this.clockFormat = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: tz });
    } catch (e) { // a zone the browser does not know ("Local"): the screen's own
      this.clockFormat = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hour12: false });
    }
    if (this.observer) {
      this.observer.disconnect();
    }
    var self = this;
    this.observer = watchRows(document.getElementById('board-rows'), function () { self.layout(); });
    this.layout();
    if (fromSnapshot) {
      // How many snapshots this page has had: what a test (or a curious admin) can read to
      // tell a live update from a reload.
      this.body.dataset.snapshots = String((parseInt(this.body.dataset.snapshots, 10) || 0) + 1);
      this.lastMessage = Date.now();
      this.closed = false;
      this.closes = 0;
      this.setStale(false);
    }
  };

  Board.prototype.now = function () { return Date.now() + this.serverOffset; };

  // layout shows the current page of rows and hides the others.
  Board.prototype.layout = function () {
    var rows = document.querySelectorAll('#board-rows > tr');
    var pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    if (this.page >= pages) {
      this.page = 0;
    }
    for (var i = 0; i < rows.length; i++) {
      rows[i].hidden = Math.floor(i / this.pageSize) !== this.page;
    }
    var indicator = document.getElementById('board-page');
    if (indicator) {
      indicator.textContent = pages > 1 ? text(this.texts.page, { page: this.page + 1, pages: pages }) : '';
    }
    var empty = document.getElementById('board-empty');
    if (empty) {
      empty.hidden = rows.length > 0;
    }
  };

  Board.prototype.tick = function () {
    var now = Date.now();
    if (now - this.pageTurned >= this.rotate) {
      this.pageTurned = now;
      this.page++;
      this.layout();
    }
    var clock = document.getElementById('board-clock');
    if (clock) {
      clock.textContent = this.clockFormat.format(new Date(this.now()));
    }
    var silent = now - this.lastMessage;
    var updated = document.getElementById('board-updated');
    if (updated) {
      updated.textContent = text(this.texts.updated, { n: Math.max(0, Math.floor(silent / 1000)) });
    }
    if (this.revoked) {
      return;
    }
    var stale = this.closed || silent > 2 * this.heartbeat;
    this.setStale(stale);
    // A socket that looks open but brings nothing (a half-open TCP connection) is replaced.
    if (stale && !this.closed && this.wrapper && now - this.lastForced > 2 * this.heartbeat) {
      this.lastForced = now;
      this.wrapper.reconnect();
    }
  };

  Board.prototype.setStale = function (stale) {
    if (stale) {
      var since = this.clockFormat.format(new Date(this.lastMessage + this.serverOffset));
      this.banner.textContent = text(this.texts.stale, { time: since });
    }
    this.banner.hidden = !stale;
    this.body.classList.toggle('board-stale', stale);
  };

  Board.prototype.reloadSoon = function () {
    if (this.reloading) {
      return;
    }
    this.reloading = true;
    // Spread the reloads of many screens over a few seconds.
    setTimeout(function () { location.reload(); }, 500 + Math.random() * 4500);
  };

  Board.prototype.onControl = function (msg) {
    switch (msg.type) {
      case 'heartbeat':
        this.serverOffset = msg.time - Date.now();
        if (msg.build && this.pageBuild && msg.build !== this.pageBuild) {
          this.reloadSoon();
        }
        break;
      case 'reload':
        location.reload();
        break;
      case 'identify':
        this.identify.textContent = this.texts.screen + ': ' + msg.name + ' · #' + msg.id;
        this.identify.hidden = false;
        var el = this.identify;
        clearTimeout(this.identifyTimer);
        this.identifyTimer = setTimeout(function () { el.hidden = true; }, IDENTIFY_MS);
        break;
    }
  };

  Board.prototype.onClose = function (code) {
    this.closed = true;
    this.closes++;
    if (code === 1008) { // the link was revoked or replaced: say so, then show the server's page
      this.revoked = true;
      this.banner.textContent = this.texts.revoked;
      this.banner.hidden = false;
      this.body.classList.add('board-stale');
      setTimeout(function () { location.reload(); }, REVOKED_RELOAD_MS);
      return;
    }
    this.tick();
    if (this.closes % PROBE_EVERY_CLOSES === 0) {
      probe();
    }
  };

  // probe asks for the page itself while the socket keeps failing: a revoked link (403) or
  // an expired login (a redirect) is then shown instead of a board that retries for ever.
  function probe() {
    fetch(location.href, { method: 'HEAD', cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      if (r.status === 403 || r.redirected) {
        location.reload();
      }
    }, function () { /* the server is down: keep retrying */ });
  }

  // ---- the dispatcher's list -----------------------------------------------------------

  function List(container) {
    this.container = container;
    this.rows = null;
    this.observer = null;
    this.adopt();
  }

  List.prototype.adopt = function () {
    var rows = document.getElementById('departure-rows');
    if (rows === this.rows) {
      return false;
    }
    this.rows = rows;
    if (this.observer) {
      this.observer.disconnect();
    }
    this.observer = rows ? watchRows(rows, function () { List.empty(); }) : null;
    List.empty();
    return true;
  };

  List.empty = function () {
    var empty = document.getElementById('departure-list-empty');
    if (empty) {
      empty.hidden = document.querySelectorAll('#departure-rows > tr').length > 0;
    }
  };

  List.prototype.status = function (msg) {
    var el = document.getElementById('live-status');
    if (el) {
      el.textContent = msg;
      el.hidden = msg === '';
    }
  };

  // ---- events --------------------------------------------------------------------------

  document.addEventListener('htmx:wsOpen', function (evt) {
    if (board) {
      board.wrapper = evt.detail.socketWrapper;
    }
  });

  document.addEventListener('htmx:wsBeforeMessage', function (evt) {
    var msg = evt.detail.message;
    if (typeof msg !== 'string' || msg.charAt(0) !== '{') {
      return; // HTML: htmx swaps it
    }
    evt.preventDefault();
    var data;
    try {
      data = JSON.parse(msg);
    } catch (e) {
      return;
    }
    if (board) {
      board.lastMessage = Date.now();
      board.onControl(data);
    }
  });

  document.addEventListener('htmx:wsAfterMessage', function () {
    if (board) {
      board.lastMessage = Date.now();
      var live = document.getElementById('board-live');
      if (live && live !== board.live) {
        board.adopt(live, true);
      } else {
        board.layout();
      }
    }
    if (list && list.adopt()) {
      list.status('');
      var c = list.container;
      c.dataset.snapshots = String((parseInt(c.dataset.snapshots, 10) || 0) + 1);
    }
  });

  document.addEventListener('htmx:wsClose', function (evt) {
    var e = evt.detail.event;
    if (e && e.target && currentSocket && e.target !== currentSocket) {
      return; // an older socket, already replaced
    }
    var code = e ? e.code : 1006;
    var ended = code === 1008 && e.reason === 'session ended'; // logged out, timed out or disabled
    if (board) {
      board.onClose(code);
    }
    if (list && document.body.contains(list.container)) {
      list.status(ended ? 'Your session has ended: log in again.' : 'Live updates paused: reconnecting…');
      if (ended) {
        setTimeout(function () { location.reload(); }, REVOKED_RELOAD_MS); // the server shows the login page
      }
    }
  });

  document.addEventListener('DOMContentLoaded', function () {
    if (document.body.hasAttribute('data-board-page')) {
      board = new Board(document.body);
    }
    var container = document.querySelector('[data-live-list]');
    if (container) {
      list = new List(container);
    }
  });

  // A filter change swaps the list (and its socket) without a page load.
  document.addEventListener('htmx:afterSettle', function () {
    var container = document.querySelector('[data-live-list]');
    if (container && (!list || list.container !== container)) {
      list = new List(container);
    }
  });
})();
