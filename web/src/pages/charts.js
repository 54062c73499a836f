// ECharts, only the parts the agency's charts use (tree-shaken), in a chunk of its own that
// only the agency's reports page loads.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent, TitleComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, TitleComponent, CanvasRenderer]);

const FONT = '"Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", sans-serif';

export function chart(el, option) {
  const instance = echarts.init(el, null, { renderer: 'canvas' });
  instance.setOption({ textStyle: { fontFamily: FONT }, animation: false, ...option });
  const resize = () => instance.resize();
  window.addEventListener('resize', resize);
  return instance;
}
