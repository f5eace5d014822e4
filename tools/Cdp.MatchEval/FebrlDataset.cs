namespace Cdp.MatchEval;

/// <summary>
/// Reads a Febrl CSV (rec_id, given_name, surname, street_number, address_1, address_2, suburb,
/// postcode, state, date_of_birth, soc_sec_id) into records whose traits carry the names
/// <see cref="Cdp.Server.Matching.MatchingOptions.Febrl"/> expects. Empty cells become absent traits.
/// </summary>
public static class FebrlDataset
{
    /// <summary>Febrl column to trait name.</summary>
    public static readonly IReadOnlyDictionary<string, string> TraitOfColumn = new Dictionary<string, string>
    {
        ["given_name"] = "firstName",
        ["surname"] = "lastName",
        ["street_number"] = "streetNumber",
        ["address_1"] = "address1",
        ["address_2"] = "address2",
        ["suburb"] = "city",
        ["postcode"] = "postcode",
        ["state"] = "state",
        ["date_of_birth"] = "birthDate",
        ["soc_sec_id"] = "ssn",
    };

    /// <summary>The records of one file in file order.</summary>
    public static List<FebrlRecord> Read(string path)
    {
        using var reader = new StreamReader(path);
        string header = reader.ReadLine() ?? throw new InvalidDataException($"{path} is empty.");
        string[] columns = header.Split(',', StringSplitOptions.TrimEntries);
        if (columns[0] != "rec_id")
            throw new InvalidDataException($"{path}: the first column is '{columns[0]}', not rec_id.");
        var records = new List<FebrlRecord>();
        string? line;
        int lineNumber = 1;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0)
                continue;
            string[] cells = line.Split(',', StringSplitOptions.TrimEntries);
            if (cells.Length != columns.Length)
                throw new InvalidDataException($"{path}:{lineNumber}: {cells.Length} cells, the header has {columns.Length}.");
            var traits = new List<KeyValuePair<string, string>>(columns.Length - 1);
            for (int c = 1; c < columns.Length; c++)
            {
                if (cells[c].Length > 0 && TraitOfColumn.TryGetValue(columns[c], out var trait))
                    traits.Add(new(trait, cells[c]));
            }
            records.Add(new FebrlRecord(cells[0], EntityOf(cells[0]), traits));
        }
        return records;
    }

    // rec-123-org and rec-123-dup-4 are person 123.
    static string EntityOf(string recordId)
    {
        var parts = recordId.Split('-');
        if (parts.Length < 3 || parts[0] != "rec")
            throw new InvalidDataException($"rec_id '{recordId}' is not rec-N-org or rec-N-dup-K.");
        return parts[1];
    }
}
