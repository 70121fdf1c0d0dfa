// callvault player: playback speed and caller-only / staff-only listening.
// Our own code, no third-party script. The recording is stereo: caller left, staff right.
"use strict";
(function () {
  var audio = document.getElementById("audio");
  if (!audio) { return; }
  var speed = document.getElementById("speed");
  var channel = document.getElementById("channel");
  var graph = null;

  speed.addEventListener("change", function () {
    audio.playbackRate = parseFloat(speed.value);
  });

  // Built on first use: a MediaElementSource takes the element's output over for good.
  function build() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    var ctx = new Ctx();
    var source = ctx.createMediaElementSource(audio);
    var split = ctx.createChannelSplitter(2);
    var merge = ctx.createChannelMerger(2);
    var caller = ctx.createGain();
    var staff = ctx.createGain();
    source.connect(split);
    split.connect(caller, 0);
    split.connect(staff, 1);
    // Each side to both ears, so a soloed side is heard in both.
    caller.connect(merge, 0, 0); caller.connect(merge, 0, 1);
    staff.connect(merge, 0, 0); staff.connect(merge, 0, 1);
    merge.connect(ctx.destination);
    return { ctx: ctx, caller: caller, staff: staff };
  }

  function apply() {
    if (!graph) { graph = build(); }
    if (graph.ctx.state === "suspended") { graph.ctx.resume(); }
    var v = channel.value;
    // Both sides mixed to each ear at half gain keeps the level of the original.
    graph.caller.gain.value = v === "staff" ? 0 : (v === "both" ? 0.5 : 1);
    graph.staff.gain.value = v === "caller" ? 0 : (v === "both" ? 0.5 : 1);
    audio.dataset.channel = v;
  }

  channel.addEventListener("change", apply);
  audio.addEventListener("play", function () { if (graph || channel.value !== "both") { apply(); } });
  audio.dataset.channel = channel.value;
})();
