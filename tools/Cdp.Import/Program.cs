using System.Net.Http.Json;
using System.Text.Json;
using Spectre.Console;

namespace Cdp.Import;

/// <summary>
/// Command-line importer: streams a file to a Cdp server's <c>POST /v1/import</c> under a job id of
/// its own, shows a progress bar of the bytes the server has read with the rows applied and rejected
/// so far (from <c>GET /v1/jobs/{id}</c>), and prints the report. Exit code 0 when every row was
/// applied, 1 when some were rejected, 2 when the import failed or could not start.
/// </summary>
static class Program
{
    const string Usage = """
        usage: cdp-import FILE [--url http://127.0.0.1:8080] [--format ndjson|csv] [--mapping "Header:target,..."]

          FILE       NDJSON of Segment Spec messages (identify, track, page, screen), or CSV of identify rows with a header
          --format   default: csv for *.csv files, ndjson otherwise
          --mapping  CSV only: rename columns, e.g. "E-Mail:email,Vorname:traits.first_name,Notes:-" (- ignores a column)
        """;

    static async Task<int> Main(string[] args)
    {
        string? file = null, format = null, mapping = null;
        var url = "http://127.0.0.1:8080";
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--url": url = Next(); break;
                    case "--format": format = Next(); break;
                    case "--mapping": mapping = Next(); break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default:
                        if (args[i].StartsWith('-') || file is not null)
                            throw new ArgumentException($"unknown argument '{args[i]}'");
                        file = args[i];
                        break;
                }
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"cdp-import: {e.Message}\n{Usage}");
                return 2;
            }
        }
        if (file is null || !File.Exists(file))
        {
            Console.Error.WriteLine(file is null ? Usage : $"cdp-import: no such file '{file}'.");
            return 2;
        }
        format ??= file.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? "csv" : "ndjson";

        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
        var job = "cli-" + Guid.NewGuid().ToString("N")[..12];
        var query = $"/v1/import?format={format}&job={job}" + (mapping is null ? "" : "&mapping=" + Uri.EscapeDataString(mapping));
        long size = new FileInfo(file).Length;
        var started = DateTimeOffset.UtcNow;

        JsonElement report = default;
        int status = 0;
        string? failure = null;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var bar = progress.AddTask($"importing {Path.GetFileName(file)}", maxValue: Math.Max(1, size));
                await using var stream = File.OpenRead(file);
                using var content = new StreamContent(stream, 1 << 16);
                content.Headers.ContentType = new(format == "csv" ? "text/csv" : "application/x-ndjson");
                var upload = http.PostAsync(query, content);
                // Progress is what the server has read: it reads rows as it applies them.
                using var poll = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
                while (!upload.IsCompleted)
                {
                    await Task.WhenAny(upload, Task.Delay(250));
                    try
                    {
                        var state = await poll.GetFromJsonAsync<JsonElement>($"/v1/jobs/{job}");
                        bar.Value = state.GetProperty("bytesRead").GetInt64();
                        bar.Description = $"{Path.GetFileName(file)}: {state.GetProperty("applied").GetInt64():N0} applied, {state.GetProperty("rejected").GetInt64():N0} rejected";
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
                    {
                        // Not registered yet, or the server is busy: the next poll will tell.
                    }
                }
                try
                {
                    using var response = await upload;
                    report = await response.Content.ReadFromJsonAsync<JsonElement>();
                    status = (int)response.StatusCode;
                }
                catch (HttpRequestException e)
                {
                    failure = e.Message;
                }
                bar.Value = bar.MaxValue;
            });

        if (failure is not null || status != 200)
        {
            var detail = failure ?? (report.ValueKind == JsonValueKind.Object && report.TryGetProperty("detail", out var d) ? d.GetString() : $"HTTP {status}");
            AnsiConsole.MarkupLineInterpolated($"[red]import failed:[/] {detail}");
            return 2;
        }
        long rows = report.GetProperty("rows").GetInt64(), applied = report.GetProperty("applied").GetInt64();
        long rejected = report.GetProperty("rejected").GetInt64(), duplicates = report.GetProperty("duplicates").GetInt64();
        var seconds = (DateTimeOffset.UtcNow - started).TotalSeconds;
        AnsiConsole.MarkupLineInterpolated($"job {job}: {rows:N0} rows in {seconds:F1} s ({rows / Math.Max(seconds, 0.001):N0} rows/s): {applied:N0} applied, {duplicates:N0} duplicates, {rejected:N0} rejected");
        if (rejected > 0)
        {
            var table = new Table().AddColumns("line", "code", "field", "reason");
            foreach (var r in report.GetProperty("rejectedRows").EnumerateArray().Take(20))
                table.AddRow(r.GetProperty("line").GetInt64().ToString(), Markup.Escape(r.GetProperty("code").GetString() ?? ""),
                    Markup.Escape(r.TryGetProperty("field", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : ""),
                    Markup.Escape(r.GetProperty("message").GetString() ?? ""));
            AnsiConsole.Write(table);
            if (rejected > 20)
                AnsiConsole.MarkupLineInterpolated($"... and {rejected - 20:N0} more: GET {url}/v1/jobs/{job}");
            return 1;
        }
        return 0;
    }
}
