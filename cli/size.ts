/** `ml-lambda size`: not built yet (see the issue that adds it). */
export async function run(_argv: string[]): Promise<number> {
    console.error("ml-lambda size: not implemented yet");
    return 2;
}
